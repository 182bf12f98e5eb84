// Boot failures and a lost engine connection, against the real hatchet-lite:
// - a malformed token and a token the engine rejects stop the pool (boot failure, no restart loop), never printed;
// - a pool child whose engine connection goes away (a loopback TCP proxy we cut) exits non-zero and the supervisor
//   restarts it; once the engine is reachable again the new child serves work.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { createClient } from '../../src/backends/hatchet/client.js';
import { EXIT } from '../../src/exit-codes.js';
import { REPO_ROOT, hatchetWorkerConfig, startHatchet, startPool, waitFor } from '../helpers/hatchet.js';

const MAIN = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

function runCli(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: build first (npx tsc -p tsconfig.json)`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, '--backend', 'hatchet', '-c', '2', '--log-format', 'json'],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout + stderr }),
    );
  });
}

/** A loopback TCP proxy to `target` whose connections can all be cut at once. */
async function proxy(
  target: string,
): Promise<{ hostPort: string; cut(): void; restore(): void; close(): Promise<void> }> {
  const [host, port] = target.split(':') as [string, string];
  const sockets = new Set<Socket>();
  let refuse = false;
  const srv: Server = createServer((client) => {
    if (refuse) return client.destroy();
    const upstream = connect(Number(port), host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  const p = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    hostPort: `127.0.0.1:${p}`,
    cut: () => {
      refuse = true;
      for (const s of sockets) s.destroy();
    },
    restore: () => {
      refuse = false;
    },
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

const server = await startHatchet();
t.teardown(() => server.stop());

void t.test('a malformed token is a configuration error named in one line, never printed', async (t) => {
  const token = 'not-a-jwt.secretpart';
  const { code, out } = await runCli({ ...server.env, HATCHET_CLIENT_TOKEN: token });
  t.equal(code, EXIT.CONFIG, 'refused by the settings check before any child starts (exit 78)');
  t.match(out, /HATCHET_CLIENT_TOKEN is malformed/);
  t.notOk(out.includes(token), 'the token is not in the output');
});

void t.test('a token the engine rejects stops the pool without a restart loop', async (t) => {
  const forged = `${server.token.slice(0, server.token.lastIndexOf('.'))}.AAAA`;
  const { code, out } = await runCli({ ...server.env, HATCHET_CLIENT_TOKEN: forged });
  t.equal(code, EXIT.BOOT_FAILURE);
  t.match(out, /rejected HATCHET_CLIENT_TOKEN/);
  t.notOk(out.includes(forged) || out.includes(server.token), 'no token in the output');
});

void t.test('a lost engine connection: the child exits, the supervisor restarts it, it serves again', async (t) => {
  const px = await proxy(server.hostPort);
  t.teardown(() => px.close());
  const pool = await startPool(server, { concurrency: 1, env: { HATCHET_CLIENT_HOST_PORT: px.hostPort } });
  t.teardown(() => pool.kill());
  const first = pool.readyPids()[0] as number;
  const cutAt = pool.lines.length;
  px.cut();
  const lostLine = (l: Record<string, unknown>): boolean =>
    l.msg === 'hatchet connection lost; exiting so the supervisor restarts this child';
  await waitFor('the child to report the lost connection', () => pool.lines.some(lostLine), 60_000);
  // Until it gives up, the engine's absence is one line per probe from the child: no SDK reconnect or heartbeat
  // noise. (The supervisor's own lines, which carry its hostname, may interleave: they are not the child's.)
  const during = pool.lines.slice(cutAt, pool.lines.findIndex(lostLine)).filter((l) => l.hostname === undefined);
  const attempts = during.filter((l) => String(l.msg).startsWith('connection '));
  t.same(
    attempts.map((l) => l.attempt),
    attempts.map((_, i) => i + 1),
    `one line per probe (${attempts.length})`,
  );
  t.equal(
    during.length,
    attempts.length,
    `nothing else while the engine is away: ${JSON.stringify(during.filter((l) => !attempts.includes(l)))}`,
  );
  t.ok(
    attempts.every((l) => l.role === 'hatchet' && l.url === px.hostPort && l.level === 40),
    'WARN, naming it',
  );
  px.restore();
  await waitFor('a replacement child to be ready', () => pool.readyPids().some((p) => p !== first), 90_000);
  const client = createClient(hatchetWorkerConfig(server));
  t.teardown(() => client.close());
  const { id } = await client.submit('add_numbers', { args: [20, 22] });
  t.equal(await client.result(id, { timeoutMs: 30_000 }), 42, 'the replacement child runs work');
  const exits = pool.lines.filter((l) => l.msg === 'child exiting' && l.pid === first);
  t.match(exits, [{ code: 1 }], 'the disconnected child exited non-zero');
});
