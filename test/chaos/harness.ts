// Shared pieces of the chaos suite: sizes (short by default, long with CHAOS_LONG=1), bulk enqueueing, execution
// counts, /proc inspection and deadline polling. The pool itself is the real binary (test/e2e/celery-harness.ts).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { buildMessage } from '../../src/backends/celery/transports/redis-envelope.js';
import { PYTHON, ROOT } from '../e2e/celery-harness.js';

export const LONG = process.env.CHAOS_LONG === '1';
export const CHAOS_TASKS = join(ROOT, 'test', 'chaos', 'chaos-tasks.mjs');

/** Poll `fn` until it returns a truthy value or the deadline passes (then throw naming `what`). */
type Falsy = null | undefined | false | 0 | '';
export async function until<T>(
  fn: () => Promise<T> | T,
  timeoutMs: number,
  what: string,
  everyMs = 25,
): Promise<Exclude<T, Falsy>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as Exclude<T, Falsy>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** LPUSH `n` protocol-v2 messages in pipelined batches (what Python's send_task writes); returns their ids. */
export async function enqueue(
  r: Redis,
  n: number,
  task: string,
  args: (i: number) => unknown[],
  queue = 'celery',
): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < n; start += 1000) {
    const p = r.pipeline();
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      const m = buildMessage({ task, args: args(i), queue });
      ids.push(m.id);
      p.lpush(m.key, m.raw);
    }
    await p.exec();
  }
  return ids;
}

/** Submit through the real Python Celery client (test/chaos/py/submit.py); returns the task ids it printed. */
export async function pySubmit(url: string, n: number, sleepMs: number, backend = url): Promise<string[]> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} missing: run scripts/setup-python.sh`);
  const args = [join(ROOT, 'test', 'chaos', 'py', 'submit.py'), url, String(n), String(sleepMs), backend];
  const p = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(p, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`submit.py exited ${code}: ${err.slice(-2000)}`);
  return out.split('\n').filter((l) => l.length > 0);
}

export interface ExecCounts {
  /** Distinct task ids that ran to completion at least once. */
  distinct: number;
  /** Completions beyond the first (at-least-once redeliveries). */
  duplicates: number;
  /** Submitted ids that never completed. */
  missing: string[];
}

export async function execCounts(r: Redis, ids: readonly string[], key = 'chaos:exec'): Promise<ExecCounts> {
  const all = await r.hgetall(key);
  let duplicates = 0;
  const missing: string[] = [];
  for (const id of ids) {
    const n = Number(all[id] ?? 0);
    if (n === 0) missing.push(id);
    else duplicates += n - 1;
  }
  return { distinct: ids.length - missing.length, duplicates, missing };
}

/** Every FAILURE/SUCCESS state of `ids` in the result backend, fetched in pipelined batches. */
export async function statuses(
  r: Redis,
  ids: readonly string[],
): Promise<Map<string, { status: string; result: unknown }>> {
  const out = new Map<string, { status: string; result: unknown }>();
  for (let start = 0; start < ids.length; start += 1000) {
    const batch = ids.slice(start, start + 1000);
    const raws = await r.mget(batch.map((id) => `celery-task-meta-${id}`));
    raws.forEach((raw, i) => {
      if (raw) out.set(batch[i]!, JSON.parse(raw) as { status: string; result: unknown });
    });
  }
  return out;
}

/** State letter of a live process from /proc (null when gone). Zombies count as gone: they run nothing. */
export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
    return state === 'Z' || state === 'X' ? null : state;
  } catch {
    return null;
  }
}

/** Pids whose parent is `ppid`, from /proc. */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(name));
    } catch {
      // the process ended while we listed /proc
    }
  }
  return out;
}

/** Resident set size of `pid` in KiB (VmRSS), or null when gone. */
export function rssKiB(pid: number): number | null {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
    return m?.[1] ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
