// Celery event values as a Python worker writes them: isoformat times, time.time() floats, one clock per node,
// worker events always and task events only when switched on.
import t from 'tap';
import {
  EventPublisher,
  eventJson,
  relayedEvent,
  TaskEventRelay,
  TOPIC_EVENT,
} from '../../src/backends/celery/events.js';
import { epochSeconds, pyIsoformat } from '../../src/backends/celery/pytime.js';

void t.test("pyIsoformat: Python's datetime.isoformat() of UTC times", async (t) => {
  const ms = Date.UTC(2026, 0, 2, 3, 4, 5, 120);
  t.equal(pyIsoformat(ms), '2026-01-02T03:04:05.120000+00:00');
  t.equal(pyIsoformat(Date.UTC(2026, 0, 2, 3, 4, 5)), '2026-01-02T03:04:05+00:00', 'no fraction when zero');
  t.equal(pyIsoformat(ms, '2026-01-02T03:04:05.120456+00:00'), '2026-01-02T03:04:05.120456+00:00', 'µs kept');
  t.equal(pyIsoformat(ms, '2026-01-02T03:04:05.120456Z'), '2026-01-02T03:04:05.120456+00:00');
  t.equal(pyIsoformat(ms, '2026-01-02T05:04:05.120456+02:00'), '2026-01-02T03:04:05.120000+00:00', 'other zones');
  const s = epochSeconds();
  t.ok(Math.abs(s - Date.now() / 1000) < 1, 'epoch seconds');
});

void t.test('publisher: one clock, worker events always, task events switchable', async (t) => {
  const sent: [string, Record<string, unknown>][] = [];
  let clock = 40;
  const p = new EventPublisher({
    channel: { publish: async (rk, body) => void sent.push([rk, body]) },
    hostname: 'celery@h',
    taskEvents: false,
    pid: 77,
    tick: () => ++clock,
  });
  await p.send('worker-heartbeat', { freq: 2 });
  await p.send('task-started', { uuid: 'u' }, 1700000000.123456);
  t.equal(sent.length, 1, 'task events off: only the worker event went out');
  p.taskEvents = true;
  await p.send('task-started', { uuid: 'u' }, 1700000000.123456);
  t.same(
    sent.map(([rk, b]) => [rk, b.type, b.clock, b.pid]),
    [
      ['worker.heartbeat', 'worker-heartbeat', 41, 77],
      ['task.started', 'task-started', 42, 77],
    ],
  );
  t.equal(sent[1]![1].timestamp, 1700000000.123456, "the child's own time of the event");
});

void t.test('relay: a child hands task events to the node only while they are on', async (t) => {
  const out: [string, unknown][] = [];
  const r = new TaskEventRelay(false, (topic, data) => void out.push([topic, data]));
  r.send('task-received', { uuid: 'a' });
  r.enabled = true;
  r.send('task-received', { uuid: 'b' });
  t.equal(out.length, 1);
  t.equal(out[0]![0], TOPIC_EVENT);
  const e = relayedEvent(out[0]![1]);
  t.equal(e?.type, 'task-received');
  t.same(e?.fields, { uuid: 'b' });
  t.equal(relayedEvent({ type: 'worker-online', fields: {}, timestamp: 1 }), null, 'children relay task events only');
  t.equal(relayedEvent('junk'), null);
});

void t.test('eventJson: float fields stay floats for a Python receiver', async (t) => {
  const text = eventJson({ freq: 2, kwargs: '{"freq": 3}', timestamp: 17, runtime: 0.25, type: 'worker-heartbeat' });
  t.equal(text, '{"freq":2.0,"kwargs":"{\\"freq\\": 3}","timestamp":17.0,"runtime":0.25,"type":"worker-heartbeat"}');
  t.equal(eventJson({ utcoffset: -5.5, pid: 3 }), '{"utcoffset":-5.5,"pid":3}', 'a fractional zone as is');
  t.equal(eventJson({ utcoffset: 0, pid: 3 }), '{"utcoffset":0.0,"pid":3}', "UTC as Celery 5.7's 0.0");
  t.same(JSON.parse(text), { freq: 2, kwargs: '{"freq": 3}', timestamp: 17, runtime: 0.25, type: 'worker-heartbeat' });
});
