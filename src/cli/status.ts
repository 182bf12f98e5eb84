// `task-backend-worker status [--json] [--ping] [--socket PATH]`: asks the running pool over its control socket.
// No pool → one line on stderr and exit 1, so scripts and health checks can rely on the code.
import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import { ControlUnavailable, queryControl } from '../ops/control-socket.js';
import { formatStatusTable, type StatusDocument } from '../ops/status.js';
import { commandConfig, commandIo } from './program.js';

const PROG = 'task-backend-worker';

interface StatusOptions {
  json?: boolean;
  ping?: boolean;
  socket?: string;
  timeout?: string;
}

export function register(program: Command): void {
  program
    .command('status')
    .description('show the running pool: one row per child (pid, state, uptime, restarts, RSS, CPU, tasks, last poll)')
    .option('--json', 'print the status document as JSON')
    .option('--ping', 'only check that the pool answers (prints its pid)')
    .option('--socket <path>', 'control socket of the pool (default: the --control-socket setting)')
    .option('--timeout <ms>', 'give up after this many milliseconds', '5000')
    .action(async (opts: StatusOptions, cmd: Command) => {
      const io = commandIo(cmd);
      const path = opts.socket ?? (await commandConfig(cmd, { requireCredentials: false })).controlSocket;
      const timeoutMs = Number(opts.timeout ?? '5000');
      try {
        const reply = await queryControl(path, opts.ping === true ? { cmd: 'ping' } : { cmd: 'status' }, timeoutMs);
        if (!reply.ok) throw new ControlUnavailable(`the pool refused: ${reply.error}`);
        if (reply.cmd === 'ping') {
          io.stdout(opts.json === true ? `${JSON.stringify(reply)}\n` : `pong from pid ${reply.pid}\n`);
          return;
        }
        const doc = reply.status as StatusDocument;
        io.stdout(opts.json === true ? `${JSON.stringify(doc, null, 2)}\n` : formatStatusTable(doc));
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        io.stderr(`${PROG}: ${message}\n`);
        process.exitCode = EXIT.FAILURE;
      }
    });
}
