// A real Debian redis-server for one test file: free loopback port, no persistence, stopped on teardown.
// Fails loudly (throws) when redis-server is missing or does not come up: a test that needs Redis must not skip.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';

export interface RedisServer {
  url: string;
  port: number;
  /** Stop the server (idempotent). */
  stop(): Promise<void>;
  /** Stop and start again on the same port (data is lost: no persistence). */
  restart(): Promise<void>;
  /** Stop only (for "broker down" tests); start() brings it back on the same port. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

/** A port the kernel just handed out on 127.0.0.1 (redis refuses port 0, so ask the kernel then release it). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  srv.close();
  await once(srv, 'close');
  if (addr === null || typeof addr === 'string') throw new Error('no port from the kernel');
  return addr.port;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    s.setTimeout(500);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        s.destroy();
        resolve(buf.startsWith('+PONG'));
      }
    });
    s.on('error', () => resolve(false));
    s.on('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

export async function startRedis(opts: { bin?: string; args?: string[] } = {}): Promise<RedisServer> {
  const bin = opts.bin ?? 'redis-server';
  const port = await freePort();
  let proc: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    const p = spawn(
      bin,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(opts.args ?? [])],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc = p;
    let out = '';
    p.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    p.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    const spawnError = new Promise<never>((_, reject) => {
      p.once('error', (e) => reject(new Error(`cannot start ${bin} (is Debian redis-server installed?): ${e.message}`)));
      p.once('exit', (code) => reject(new Error(`${bin} exited with ${code} before it answered PING: ${out}`)));
    });
    spawnError.catch(() => undefined);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const ok = await Promise.race([ping(port), spawnError]);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    p.kill('SIGKILL');
    throw new Error(`${bin} did not answer PING on port ${port} within 10 s: ${out}`);
  };

  const kill = async (): Promise<void> => {
    const p = proc;
    proc = null;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, 'exit');
    p.kill('SIGKILL');
    await exited;
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    stop: kill,
    kill,
    start,
    async restart() {
      await kill();
      await start();
    },
  };
}
