// `dev --broker amqp`: a private RabbitMQ node for a first run, like the redis-server dev starts: its own node
// name, loopback ports, data and log directories in a temporary directory, removed when it stops. RabbitMQ runs in
// a session of its own (Debian's wrapper su's to the rabbitmq user), so it is stopped with `rabbitmqctl stop`.
import { execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { accepts } from './dev-net.js';

const run = promisify(execFile);

/** Debian's packaged scripts (the /usr/sbin wrappers refuse any user but root and rabbitmq). */
const DEBIAN_BIN = '/usr/lib/rabbitmq/bin';

/**
 * The environment of a private RabbitMQ node: its own name, AMQP and Erlang distribution ports on loopback only,
 * data, logs, plugins file and pid file in `dir` (`dir/mnesia`, `dir/log` and `dir/plugins` must exist).
 */
export function privateNodeEnv(o: { dir: string; nodename: string; port: number; distPort: number }) {
  return {
    RABBITMQ_NODENAME: o.nodename,
    RABBITMQ_NODE_PORT: String(o.port),
    RABBITMQ_DIST_PORT: String(o.distPort),
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_MNESIA_BASE: join(o.dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(o.dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(o.dir, 'plugins'),
    RABBITMQ_PID_FILE: join(o.dir, 'node.pid'),
    // Erlang distribution (rabbitmqctl's way in) on loopback too, not every interface.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
}

export interface DevRabbit {
  url: string;
  stop(): Promise<void>;
}

function rabbitUser(): { uid: number; gid: number } | null {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('rabbitmq:'));
    if (!line) return null;
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return null;
  }
}

/**
 * Start rabbitmq-server (`bin`, found on PATH) on `port` (AMQP) and `distPort` (Erlang distribution); resolves
 * once the AMQP port accepts connections (the listener opens last in RabbitMQ's boot), or throws.
 */
export async function startDevRabbit(
  bin: string,
  port: number,
  distPort: number,
  timeoutMs: number,
): Promise<DevRabbit> {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-dev-rabbitmq-'));
  for (const d of ['mnesia', 'log']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'plugins'), '[].\n');
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? rabbitUser() : null;
  // As root, Debian's wrapper runs the node as the rabbitmq user: it must own the directories. As anyone else,
  // the packaged script itself runs as that user (the wrapper would refuse), with HOME for its Erlang cookie.
  if (owner) for (const p of ['', 'mnesia', 'log', 'plugins']) chownSync(join(dir, p), owner.uid, owner.gid);
  const direct = !asRoot && existsSync(join(DEBIAN_BIN, 'rabbitmq-server'));
  const server = direct ? join(DEBIAN_BIN, 'rabbitmq-server') : bin;
  const ctlBin = direct ? join(DEBIAN_BIN, 'rabbitmqctl') : join(dirname(bin), 'rabbitmqctl');
  const nodename = `tbw-dev-${process.pid}@localhost`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...(asRoot ? {} : { HOME: dir }),
    ...privateNodeEnv({ dir, nodename, port, distPort }),
  };
  let out = '';
  const proc = spawn(server, [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  proc.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-2000)));
  proc.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-2000)));
  proc.unref();
  const stop = async (): Promise<void> => {
    try {
      await run(ctlBin, ['-q', '-n', nodename, 'stop'], { env, timeout: 30_000 });
    } catch {
      try {
        process.kill(Number(readFileSync(join(dir, 'node.pid'), 'utf8').trim()), 'SIGKILL');
      } catch {
        // never started, or already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (proc.exitCode !== null && proc.exitCode !== 0) {
      await stop();
      throw new Error(`${server} exited with code ${proc.exitCode}: ${out.trim()}`);
    }
    if (await accepts(port)) return { url: `amqp://guest:guest@127.0.0.1:${port}//`, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`${server} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms: ${out.trim()}`);
}
