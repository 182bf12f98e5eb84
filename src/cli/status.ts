// `task-backend-worker status [--json] [--ping] [--socket PATH]`: asks the running pool over its control socket.
// No pool → one line on stderr naming the socket, and exit 69 (EX_UNAVAILABLE), so scripts and health checks can
// rely on the code; a pool that answers with an error → exit 1.
import type { Command } from 'commander';
import { whereSet } from '../config/errors.js';
import { EXIT } from '../exit-codes.js';
import { ControlUnavailable, queryControl } from '../ops/control-socket.js';
import { formatStatusTable, type StatusDocument } from '../ops/status.js';
import { CommandError } from './command-error.js';
import { commandIo, resolveCommand } from './program.js';

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
      const { config, sources } = await resolveCommand(cmd, { requireCredentials: false });
      const path = opts.socket ?? config.controlSocket;
      const from = opts.socket !== undefined ? '--socket' : whereSet('controlSocket', sources.controlSocket);
      const timeoutMs = Number(opts.timeout ?? '5000');
      let reply;
      try {
        reply = await queryControl(path, opts.ping === true ? { cmd: 'ping' } : { cmd: 'status' }, timeoutMs);
      } catch (e) {
        if (!(e instanceof ControlUnavailable)) throw e;
        throw new CommandError(`${e.message} (socket set by ${from}); is the worker running?`, EXIT.UNAVAILABLE);
      }
      if (!reply.ok) throw new CommandError(`the pool refused: ${reply.error}`, EXIT.FAILURE);
      if (reply.cmd === 'ping') {
        io.stdout(opts.json === true ? `${JSON.stringify(reply)}\n` : `pong from pid ${reply.pid}\n`);
        return;
      }
      const doc = reply.status as StatusDocument;
      io.stdout(opts.json === true ? `${JSON.stringify(doc, null, 2)}\n` : formatStatusTable(doc));
    });
}
