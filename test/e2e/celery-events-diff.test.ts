// Our events against a real Python Celery worker's, both running in this test on the same broker: the same task
// (add_numbers, with and without a countdown) on each, and every event type compared field by field — the field
// set and each value's Python type (int/float/str/None/isotime) as a Python receiver decodes it; both nodes stamp
// their events with their main process's pid and one increasing clock.
import t from 'tap';
import { PYTHON, startBrokers, startWorker, TRANSPORTS } from './celery-harness.js';
import { CELERY, PY_DIR, run, until, watchEvents, type Seen } from './celery-tools.js';
import { startPythonWorker } from './py-worker.js';

/** utcoffset: Celery 5.5 writes an int (floored hours), 5.7 a float (exact); we write 5.7's. Either is a number. */
const loose = (shape: Record<string, string> | undefined): Record<string, string> | undefined =>
  shape && { ...shape, utcoffset: shape.utcoffset === 'int' || shape.utcoffset === 'float' ? 'number' : 'missing' };

const TYPES = ['worker-online', 'worker-heartbeat', 'task-received', 'task-started', 'task-succeeded'];

for (const kind of TRANSPORTS)
  void t.test(`our event fields and value types are a Python worker's (${kind})`, async (t) => {
    const b = await startBrokers(kind);
    t.teardown(() => b.stop());
    const env = { BROKER: b.broker, BACKEND: b.redis.url, PYTHONPATH: PY_DIR };
    const watcher = await watchEvents(env);
    t.teardown(() => void watcher.proc.kill('SIGKILL'));
    const ours = `celery@ours-${process.pid}`;
    const theirs = `celery@py-${process.pid}`;
    const w = startWorker(b.broker, ['-c', '1', '-E', '-n', ours, '-Q', 'celery'], b.env);
    t.teardown(async () => void (await w.stop('SIGKILL')));
    const py = await startPythonWorker(
      'fidelity_app',
      ['-E', '-c', '1', '-P', 'prefork', '-n', theirs, '-Q', 'pyq', '--loglevel', 'INFO'],
      env,
      PYTHON,
      { heartbeat: true },
    );
    t.teardown(() => py.killGroup());
    await w.waitFor((l) => l.msg === 'celery control node ready', 30_000, 'control node');

    const send = async (queue: string, extra: string[] = []): Promise<string> => {
      const r = await run(
        CELERY,
        ['-A', 'fidelity_app', 'call', 'add_numbers', '--args', '[2, 3]', '--queue', queue, ...extra],
        env,
      );
      t.equal(r.code, 0, `celery call on ${queue} ${r.err.slice(-300)}`);
      return r.out.trim().split('\n').pop() ?? '';
    };
    const ids = {
      [ours]: [await send('celery'), await send('celery', ['--countdown', '1'])],
      [theirs]: [await send('pyq'), await send('pyq', ['--countdown', '1'])],
    };
    const seen = watcher.seen;
    const of = (node: string, type: string): Seen[] =>
      seen.filter((s) => s.event.hostname === node && s.event.type === type);
    await until(
      'both nodes: every task succeeded, heartbeats seen',
      () =>
        [ours, theirs].every(
          (n) =>
            ids[n]!.every((id) => seen.some((s) => s.event.uuid === id && s.event.type === 'task-succeeded')) &&
            of(n, 'worker-heartbeat').length > 0 &&
            of(n, 'worker-online').length > 0,
        )
          ? true
          : undefined,
      30_000,
    );

    const first = (node: string, type: string, withEta = false): Seen | undefined =>
      of(node, type).find((s) => (withEta ? s.event.uuid === ids[node]![1] : s.event.uuid !== ids[node]![1]));
    for (const type of TYPES)
      for (const withEta of type === 'task-received' ? [false, true] : [false]) {
        const a = first(ours, type, withEta);
        const p = first(theirs, type, withEta);
        const label = `${type}${withEta ? ' (countdown)' : ''}`;
        t.ok(a && p, `${label}: both nodes sent one`);
        t.same(Object.keys(a?.shape ?? {}).sort(), Object.keys(p?.shape ?? {}).sort(), `${label}: same fields`);
        t.same(loose(a?.shape), loose(p?.shape), `${label}: same value types ${JSON.stringify(a?.event)}`);
      }

    for (const [node, pid] of [
      [ours, w.proc.pid],
      [theirs, py.proc.pid],
    ] as const) {
      const mine = seen.filter((s) => s.event.hostname === node);
      t.same([...new Set(mine.map((s) => s.event.pid))], [pid], `${node}: every event carries the main pid`);
      const clocks = mine.map((s) => Number(s.event.clock));
      t.ok(
        clocks.every((c, i) => i === 0 || c > clocks[i - 1]!),
        `${node}: one clock, increasing ${JSON.stringify(clocks)}`,
      );
    }
    const at = (type: string): number =>
      Number(seen.find((s) => s.event.uuid === ids[ours]![0] && s.event.type === type)?.event.timestamp);
    t.ok(at('task-received') < at('task-started'), 'received is stamped when received, before started');
  });
