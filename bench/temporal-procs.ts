// The processes bench/temporal.ts starts and ends: its own Temporal dev server on free ports, the workers under
// test (spawned in their own process group, ready once they log enough ready lines) and their shutdown, group and
// all, so no contender's workers outlive its pass.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { Connection } from '@temporalio/client';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts `temporal server start-dev` (the CLI at `cli`); resolves once a client can connect. */
export async function startServer(cli: string): Promise<{ address: string; proc: ChildProcess }> {
  if (!existsSync(cli)) throw new Error(`temporal CLI missing at ${cli}: run scripts/setup-python.sh`);
  const [p, h, m] = [await freePort(), await freePort(), await freePort()];
  const args = ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', `${p}`, '--http-port', `${h}`];
  const proc = spawn(cli, [...args, '--metrics-port', `${m}`, '--log-level', 'error'], { stdio: 'ignore' });
  const address = `127.0.0.1:${p}`;
  await until('temporal server', async () => {
    try {
      const c = await Connection.connect({ address, connectTimeout: 500 });
      await c.close();
      return true;
    } catch {
      return false;
    }
  });
  return { address, proc };
}

/** Spawns a process that logs NDJSON; resolves when `readyCount` lines satisfy `isReady`. */
export async function spawnReady(
  args: string[],
  env: Record<string, string>,
  isReady: (line: Record<string, unknown>) => boolean,
  readyCount: number,
): Promise<{ proc: ChildProcess; ms: number; lines: Record<string, unknown>[] }> {
  const started = Date.now();
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  proc.stdout?.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        // not JSON: ignore
      }
    }
  });
  await until('ready', () => {
    if (proc.exitCode !== null) throw new Error(`exited ${proc.exitCode}`);
    return lines.filter(isReady).length >= readyCount;
  });
  return { proc, ms: Date.now() - started, lines };
}

export async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  process.kill(-(proc.pid as number), 'SIGTERM');
  const t = setTimeout(() => process.kill(-(proc.pid as number), 'SIGKILL'), 10_000);
  await gone;
  clearTimeout(t);
}
