// A real Debian rabbitmq-server for one test file: a private node (own name, ports, data and log directories, owned
// by the rabbitmq user) on free loopback ports. Fails loudly when rabbitmq-server is missing or does not come up: a
// test that needs RabbitMQ must not skip. The node runs in a session of its own (the Debian wrapper), so it is
// stopped with `rabbitmqctl stop`, and a watcher stops it if the test process dies without tearing down.
import { execFile, spawn } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { privateNodeEnv } from '../../src/cli/dev-rabbitmq.js';
import { freePort } from './redis.js';

const run = promisify(execFile);

export interface RabbitServer {
  /** amqp://guest:guest@127.0.0.1:<port>// (the default vhost "/"). */
  url: string;
  port: number;
  nodename: string;
  /** Run rabbitmqctl against this node; resolves with stdout. */
  ctl(...args: string[]): Promise<string>;
  /** `rabbitmqctl list_queues` as rows of the named columns (strings), e.g. listQueues('name', 'messages'). */
  listQueues(...columns: string[]): Promise<Record<string, string>[]>;
  /** Stop the node (idempotent). Its data directory is removed. */
  stop(): Promise<void>;
  /** Stop the node but keep its data (durable queues and messages survive), for "broker down" tests. */
  kill(): Promise<void>;
  /** Start again on the same ports with the same data. */
  start(): Promise<void>;
  /** kill() then start(). */
  restart(): Promise<void>;
}

function rabbitUid(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('rabbitmq:'));
  if (!line)
    throw new Error('no rabbitmq user: is Debian rabbitmq-server installed? (apt-get install rabbitmq-server)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export interface RabbitOptions {
  startTimeoutMs?: number;
  /** rabbitmq.conf lines added to the node's own config file (e.g. a TLS listener). */
  conf?: string[];
}

export async function startRabbit(opts: RabbitOptions = {}): Promise<RabbitServer> {
  const port = await freePort();
  const distPort = await freePort();
  const nodename = `tbw${process.pid}x${Math.floor(Math.random() * 1e6)}@localhost`;
  const dir = mkdtempSync(join(tmpdir(), 'tbw-rabbit-'));
  const { uid, gid } = rabbitUid();
  for (const d of ['mnesia', 'log']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'plugins'), '[].\n');
  writeFileSync(join(dir, 'rabbitmq.conf'), (opts.conf ?? []).map((l) => `${l}\n`).join(''));
  for (const f of ['', 'mnesia', 'log', 'plugins', 'rabbitmq.conf']) chownSync(join(dir, f), uid, gid);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...privateNodeEnv({ dir, nodename, port, distPort }),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
  };
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  let running = false;
  let removed = false;

  const ctl = async (...args: string[]): Promise<string> => {
    const { stdout } = await run('rabbitmqctl', ['-q', '-n', nodename, ...args], { env, timeout: 60_000 });
    return stdout;
  };

  const start = async (): Promise<void> => {
    let out = '';
    const p = spawn('rabbitmq-server', [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    p.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    p.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    let exited: string | null = null;
    p.once(
      'error',
      (e) => (exited = `cannot start rabbitmq-server (is Debian rabbitmq-server installed?): ${e.message}`),
    );
    p.once('exit', (code) => (exited ??= `rabbitmq-server exited with code ${code} before it was ready: ${out}`));
    p.unref();
    const deadline = Date.now() + startTimeoutMs;
    // await_startup fails at once while the node is not yet registered with epmd: retry until the deadline.
    for (;;) {
      if (exited !== null) throw new Error(exited);
      try {
        await ctl('await_startup', '--timeout', '10');
        break;
      } catch (e) {
        if (Date.now() > deadline) {
          throw new Error(`rabbitmq node ${nodename} not ready within ${startTimeoutMs} ms: ${(e as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    running = true;
  };

  const kill = async (): Promise<void> => {
    if (!running) return;
    running = false;
    try {
      await ctl('stop');
    } catch {
      // The node did not answer: kill it by its pid file so no test leaves a broker behind.
      try {
        process.kill(Number(readFileSync(env.RABBITMQ_PID_FILE as string, 'utf8').trim()), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };

  await start();
  // Stops the node if this test process dies without its teardown (tap timeout, SIGKILL).
  const watcher = spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ` +
        `rabbitmqctl -q -n '${nodename}' stop >/dev/null 2>&1; rm -rf '${dir}'`,
    ],
    { env, stdio: 'ignore', detached: true },
  );
  watcher.unref();

  return {
    url: `amqp://guest:guest@127.0.0.1:${port}//`,
    port,
    nodename,
    ctl,
    async listQueues(...columns: string[]) {
      const out = await ctl('list_queues', '--no-table-headers', ...columns);
      return out
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => Object.fromEntries(l.split('\t').map((v, i) => [columns[i] ?? String(i), v.trim()])));
    },
    async stop() {
      await kill();
      if (!removed) {
        removed = true;
        try {
          watcher.kill();
        } catch {
          /* gone */
        }
        rmSync(dir, { recursive: true, force: true });
      }
    },
    kill,
    start,
    async restart() {
      await kill();
      await start();
    },
  };
}
