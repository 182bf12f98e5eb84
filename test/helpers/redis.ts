// A real Debian redis-server for one test file: free loopback port, no persistence, stopped on teardown.
// Fails loudly (throws) when redis-server is missing or does not come up: a test that needs Redis must not skip.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { freePort } from './ports.js';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';

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

/** Re-exported: the test files that start several servers take their ports from here. */
export { freePort };

/** TLS listener options (`--tls-port` replaces the plain port; PEM file paths). */
export interface RedisTlsOptions {
  cert: string;
  key: string;
  ca: string;
  /** Require client certificates (`--tls-auth-clients yes`); default no. */
  authClients?: boolean;
  /** The certificate the helper's readiness probe presents when authClients is set. */
  clientCert?: string;
  clientKey?: string;
}

function ping(port: number, password?: string, tls?: RedisTlsOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const s: Socket = tls
      ? tlsConnect({
          port,
          host: '127.0.0.1',
          rejectUnauthorized: false,
          ...(tls.authClients
            ? { cert: readFileSync(tls.clientCert ?? tls.cert), key: readFileSync(tls.clientKey ?? tls.key) }
            : {}),
        })
      : connect(port, '127.0.0.1');
    let buf = '';
    s.setTimeout(500);
    s.on(tls ? 'secureConnect' : 'connect', () =>
      s.write(password === undefined ? 'PING\r\n' : `AUTH ${password}\r\nPING\r\n`),
    );
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('+PONG') || buf.includes('-')) {
        s.destroy();
        resolve(buf.includes('+PONG') && !buf.includes('-'));
      }
    });
    s.on('error', () => resolve(false));
    s.on('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** `password` → `--requirepass` (and in `url`); `tls` → TLS only on the port, `url` becomes rediss://. */
export async function startRedis(
  opts: { bin?: string; args?: string[]; password?: string; tls?: RedisTlsOptions } = {},
): Promise<RedisServer> {
  const bin = opts.bin ?? 'redis-server';
  const port = await freePort();
  let proc: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    const { tls, password } = opts;
    const listen = tls
      ? [
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--tls-cert-file',
          tls.cert,
          '--tls-key-file',
          tls.key,
          '--tls-ca-cert-file',
          tls.ca,
          '--tls-auth-clients',
          tls.authClients ? 'yes' : 'no',
        ]
      : ['--port', String(port)];
    const p = spawn(
      bin,
      [
        ...listen,
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        ...(password !== undefined ? ['--requirepass', password] : []),
        ...(opts.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc = p;
    let out = '';
    p.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    p.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    const spawnError = new Promise<never>((_, reject) => {
      p.once('error', (e) =>
        reject(new Error(`cannot start ${bin} (is Debian redis-server installed?): ${e.message}`)),
      );
      p.once('exit', (code) => reject(new Error(`${bin} exited with ${code} before it answered PING: ${out}`)));
    });
    spawnError.catch(() => undefined);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const ok = await Promise.race([ping(port, opts.password, opts.tls), spawnError]);
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
    url: `${opts.tls ? 'rediss' : 'redis'}://${opts.password !== undefined ? `:${encodeURIComponent(opts.password)}@` : ''}127.0.0.1:${port}/0`,
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
