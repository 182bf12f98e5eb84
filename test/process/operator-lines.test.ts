// What an operator sees, read from the real binary's output at the default level, in pretty and in JSON format:
// while the broker (or a separate result backend) is down, ONE line per connection attempt (naming the URL with its
// password redacted, the error code and the next delay), no stack, no library output, and "restored" once per
// connection when it is back; and one line per task event, as a Celery worker writes them (--no-log-tasks: none).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startRedis } from '../helpers/redis.js';
import { ROOT, until } from './_helpers.js';

const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'tbw-oplines-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

interface Worker {
  proc: ChildProcess;
  /** Every line the worker printed (stdout and stderr), in order. */
  out: string[];
  stop(): Promise<number | null>;
}

/** `env`: URLs with a password go there, as the docs advise (given as a flag, the worker warns about ps). */
function worker(name: string, format: 'pretty' | 'json', args: string[], env: Record<string, string> = {}): Worker {
  const proc = spawn(
    process.execPath,
    [MAIN, '--log-format', format, '--control-socket', join(dir, `${name}.sock`), '-n', `${name}@localhost`, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...env } },
  );
  const out: string[] = [];
  for (const s of [proc.stdout, proc.stderr]) {
    let partial = '';
    s?.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      out.push(...parts.filter((p) => p !== ''));
    });
  }
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    out,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** One attempt line, read back from either format: who (child or connection), attempt number, code, delay. */
interface Attempt {
  who: string;
  attempt: number;
  code: string;
  retryInMs: number;
  url: string;
}

const PRETTY_BOOT =
  /WARN \((\d+)\): child (\d+): cannot reach the Celery broker at (\S+) \((\w+)\); retrying in ([\d.]+)s(?: \(attempt (\d+)\))?/;
const PRETTY_CONN =
  /WARN(?: \(\d+\))?: (?:cannot connect to|connection to) (the broker(?: \(remote control\))?) at (\S+) (?:lost )?\((\w+)\); (?:retrying|reconnecting) in ([\d.]+)s(?: \(attempt (\d+)\))? (\{.*\})/;

function bootAttempt(line: string, format: 'pretty' | 'json'): Attempt | null {
  if (format === 'json') {
    const l = JSON.parse(line) as Record<string, unknown>;
    if (l.msg !== 'child could not reach its backend, retrying') return null;
    const url = /at (\S+) \(/.exec(String(l.reason))?.[1] ?? '';
    return { who: `child ${String(l.child)}`, attempt: Number(l.attempt), code: String(l.code), retryInMs: Number(l.retryInMs), url }; // prettier-ignore
  }
  const m = PRETTY_BOOT.exec(line);
  if (!m) return null;
  return { who: `child ${m[2]}`, attempt: Number(m[6] ?? 1), code: m[4] as string, retryInMs: Number(m[5]) * 1000, url: m[3] as string }; // prettier-ignore
}

function connAttempt(line: string, format: 'pretty' | 'json'): Attempt | null {
  if (format === 'json') {
    const l = JSON.parse(line) as Record<string, unknown>;
    if (l.msg !== 'connection failed, retrying' && l.msg !== 'connection lost, reconnecting') return null;
    return { who: `${String(l.child ?? 'node')}/${String(l.role)}`, attempt: Number(l.attempt), code: String(l.code), retryInMs: Number(l.retryInMs), url: String(l.url) }; // prettier-ignore
  }
  const m = PRETTY_CONN.exec(line);
  if (!m) return null;
  const tail = JSON.parse(m[6] as string) as { child?: number };
  return { who: `${String(tail.child ?? 'node')}/${m[1] as string}`, attempt: Number(m[5] ?? 1), code: m[3] as string, retryInMs: Number(m[4]) * 1000, url: m[2] as string }; // prettier-ignore
}

/** Per connection, the attempts must be numbered 1, 2, 3... once each: exactly one line per attempt. */
function checkNumbering(t: Test, attempts: Attempt[]): Map<string, number> {
  const byWho = new Map<string, number[]>();
  for (const a of attempts) byWho.set(a.who, [...(byWho.get(a.who) ?? []), a.attempt]);
  const counts = new Map<string, number>();
  for (const [who, ns] of byWho) {
    t.same(
      ns,
      ns.map((_, i) => i + 1),
      `${who}: attempts ${ns.join(',')} each said once, in order`,
    );
    counts.set(who, ns.length);
  }
  return counts;
}

function noNoise(t: Test, lines: string[], what: string): void {
  t.notOk(lines.some((l) => /\n|^\s+at |"stack"|Unhandled|\[ioredis\]|Connection is closed/.test(l)), `${what}: no stack, no library output`); // prettier-ignore
  t.notOk(
    lines.some((l) => l.includes('hunter2')),
    `${what}: the password is never printed`,
  );
}

for (const format of ['pretty', 'json'] as const) {
  void t.test(`${format}: the broker down at start → one line per child per attempt`, async (t) => {
    const dead = await startRedis({ password: 'hunter2' });
    const url = dead.url;
    await dead.stop();
    const w = worker(`boot-${format}`, format, ['-c', '2'], { CELERY_BROKER_URL: url });
    t.teardown(() => void w.stop());
    const attempts = (): Attempt[] => w.out.map((l) => bootAttempt(l, format)).filter((a) => a !== null);
    await until(
      () => ['child 0', 'child 1'].every((c) => attempts().filter((a) => a.who === c).length >= 4),
      30_000,
      'four attempts of each child',
    );
    t.equal(await w.stop(), 0, 'a stop while it waits for the broker is a clean exit');
    const start = w.out.findIndex((l) => l.includes('pool starting'));
    const end = w.out.findIndex((l) => l.includes('signal received'));
    const window = w.out.slice(start + 1, end);
    const seen = attempts();
    t.equal(window.length, seen.length, `every line while the broker is down is an attempt's line (${window.length})`);
    checkNumbering(t, seen);
    t.ok(
      seen.every((a) => a.code === 'ECONNREFUSED'),
      'the error code',
    );
    t.ok(
      seen.every((a) => a.url === url.replace(':hunter2@', ':***@')),
      `the URL, password redacted (${seen[0]?.url})`,
    );
    const delays = seen.filter((a) => a.who === 'child 0').map((a) => a.retryInMs);
    t.ok(delays[3]! > delays[0]!, `the next delay, growing: ${delays.join(', ')} ms`);
    t.comment(`${format}: ${window.length} lines for ${seen.length} attempts`);
    noNoise(t, w.out, format);
  });

  void t.test(`${format}: the broker lost while running → one line per connection per attempt`, async (t) => {
    const redis = await startRedis({ password: 'hunter2' });
    t.teardown(() => redis.stop());
    // -E: the control node publishes events, so it has a connection of its own to report too.
    const w = worker(`run-${format}`, format, ['-c', '2', '-E', '-b', redis.url]);
    t.teardown(() => void w.stop());
    await until(() => w.out.some((l) => l.includes('celery control node ready')), 30_000, 'pool and node running');
    const before = w.out.length;
    await redis.kill();
    const attempts = (): Attempt[] =>
      w.out
        .slice(before)
        .map((l) => connAttempt(l, format))
        .filter((a) => a !== null);
    const whoCount = (): Map<string, number> => {
      const m = new Map<string, number>();
      for (const a of attempts()) m.set(a.who, (m.get(a.who) ?? 0) + 1);
      return m;
    };
    await until(
      () => whoCount().size === 3 && [...whoCount().values()].every((n) => n >= 4),
      30_000,
      'four attempts of each connection (2 children, the node)',
    );
    await redis.start();
    const restored = (): string[] => w.out.slice(before).filter((l) => /connection restored|connection to .* restored/.test(l)); // prettier-ignore
    await until(() => restored().length >= 3, 30_000, 'restored, once per connection');
    const seen = attempts();
    const window = w.out.slice(before);
    t.equal(window.length, seen.length + 3, `the outage: ${seen.length} attempt lines and 3 "restored" lines, nothing else`); // prettier-ignore
    const counts = checkNumbering(t, seen);
    t.same([...counts.keys()].sort(), format === 'json' ? ['0/broker', '1/broker', 'node/control'] : ['0/the broker', '1/the broker', 'node/the broker (remote control)'], 'the connections: each child\'s broker, the node\'s'); // prettier-ignore
    t.ok(
      seen.every((a) => a.url === redis.url.replace(':hunter2@', ':***@')),
      'the URL, password redacted',
    );
    t.ok(
      seen.filter((a) => a.attempt > 1).every((a) => a.code === 'ECONNREFUSED'),
      'the error code of each retry',
    );
    t.ok(
      seen.every((a) => a.retryInMs > 0 && a.retryInMs <= 5100),
      'the next delay (capped at 5 s)',
    );
    t.comment(`${format}: ${window.length} lines for ${seen.length} attempts of 3 connections`);
    noNoise(t, window, format);
    t.equal(await w.stop(), 0);
  });
}

void t.test('json: a result backend on its own server, lost while running → its own lines', async (t) => {
  const [broker, results] = await Promise.all([startRedis(), startRedis({ password: 'hunter2' })]);
  t.teardown(() => Promise.all([broker.stop(), results.stop()]));
  const w = worker('results', 'json', ['-c', '2', '-b', broker.url, '--result-backend', results.url]);
  t.teardown(() => void w.stop());
  await until(() => w.out.some((l) => l.includes('celery control node ready')), 30_000, 'pool running');
  const before = w.out.length;
  await results.kill();
  const lines = (): Record<string, unknown>[] => w.out.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>); // prettier-ignore
  const attempts = (): Record<string, unknown>[] => lines().filter((l) => String(l.msg).startsWith('connection ') && l.level === 40); // prettier-ignore
  await until(() => [0, 1].every((c) => attempts().filter((l) => l.child === c).length >= 3), 30_000, 'three attempts per child'); // prettier-ignore
  await results.start();
  await until(() => lines().filter((l) => l.msg === 'connection restored').length >= 2, 30_000, 'restored');
  for (const c of [0, 1]) {
    const mine = attempts().filter((l) => l.child === c);
    t.same(
      mine.map((l) => l.attempt),
      mine.map((_, i) => i + 1),
      `child ${c}: one line per attempt`,
    );
  }
  t.ok(attempts().every((l) => l.role === 'results' && l.url === results.url.replace(':hunter2@', ':***@')), "the result backend's connection, named"); // prettier-ignore
  t.equal(lines().length, attempts().length + 2, 'nothing else: the broker never went away');
  t.equal(await w.stop(), 0);
});

void t.test('pretty: one line per task event, as a Celery worker writes them; --no-log-tasks: none', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const submit = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [MAIN, 'submit', ...args, '-b', redis.url, '--wait'], { stdio: ['ignore', 'pipe', 'inherit'] }); // prettier-ignore
      let out = '';
      p.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
      p.once('exit', (code) => (code === 0 ? resolve(out.split('\n')[0] ?? '') : reject(new Error(`submit exit ${code}`)))); // prettier-ignore
    });
  for (const off of [false, true]) {
    const w = worker(`tasks-${String(off)}`, 'pretty', ['-c', '1', '-b', redis.url, ...(off ? ['--no-log-tasks'] : [])]); // prettier-ignore
    t.teardown(() => void w.stop());
    await until(() => w.out.some((l) => l.includes('celery control node ready')), 30_000, 'pool running');
    const id = await submit(['add_numbers', '2', '3']);
    const late = await submit(['echo', 'hi', '--countdown', '1']);
    await until(() => off || w.out.some((l) => l.includes(`echo[${late}] succeeded`)), 20_000, 'the ETA task ran');
    t.equal(await w.stop(), 0);
    const about = (taskId: string): string[] =>
      w.out.filter((l) => l.includes(`[${taskId}]`)).map((l) => l.replace(/^\[[\d:.]+\] /, ''));
    if (off) {
      t.same([...about(id), ...about(late)], [], '--no-log-tasks: no task lines at the default level');
      continue;
    }
    t.match(about(id), [
      /^INFO \(\d+\): Task add_numbers\[[-\w]+\] received \{"child":0,"backend":"celery"\}$/,
      /^INFO \(\d+\): Task add_numbers\[[-\w]+\] succeeded in \d+\.?\d*s: 5 \{"child":0,"backend":"celery"\}$/,
    ], 'received, then succeeded with the runtime and the result'); // prettier-ignore
    t.equal(about(id).length, 2, 'one line each');
    t.match(about(late), [/Task echo\[[-\w]+\] received \(eta \d{4}-\d\d-\d\dT[\d:.]+Z\)/, /Task echo\[[-\w]+\] succeeded in .*s: 'Echo: hi'/]); // prettier-ignore
  }
});

void t.test("json: a database result backend down at start → the supervisor's one line per attempt", async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dead = await startRedis();
  const port = dead.port;
  await dead.stop();
  const url = `db+postgresql://tbw:hunter2@127.0.0.1:${port}/tbw`;
  const w = worker('db-down', 'json', ['-c', '1', '-b', redis.url], { CELERY_RESULT_BACKEND: url });
  t.teardown(() => void w.stop());
  const retries = (): Record<string, unknown>[] =>
    w.out.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'child could not reach its backend, retrying'); // prettier-ignore
  await until(() => retries().length >= 3, 30_000, 'three attempts');
  t.equal(await w.stop(), 0);
  t.match(retries()[0], {
    reason: `cannot reach the Celery result backend at db+postgresql://tbw:***@127.0.0.1:${port}/tbw (ECONNREFUSED)`,
    code: 'ECONNREFUSED',
  });
  t.same(retries().map((l) => l.attempt), [1, 2, 3].concat(retries().slice(3).map((_, i) => i + 4)), 'one line per attempt'); // prettier-ignore
  noNoise(t, w.out, 'database down');
});
