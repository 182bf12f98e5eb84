// The optional `durations` histogram and `counts` of a heartbeat: kept when well-formed, dropped (heartbeat still
// valid) when not; observe() puts a value in the first bucket whose upper bound is not below it.
import t from 'tap';
import { parseChildMessage } from '../../src/ipc/messages.js';
import { emptyHistogram, observe } from '../../src/ipc/histogram.js';

const beat = { type: 'heartbeat', active: 0, processed: 3, failed: 0, lastPollAt: null, rss: 1000 };

void t.test('observe fills the right buckets, overflow included', async (t) => {
  const h = emptyHistogram([0.1, 1]);
  for (const s of [0.05, 0.1, 0.5, 1, 7]) observe(h, s);
  t.same(h.counts, [2, 2, 1], 'le is inclusive; 7 s lands in +Inf');
  t.equal(h.count, 5);
  t.equal(Math.round(h.sum * 100) / 100, 8.65);
});

void t.test('a valid histogram is copied through the validator', async (t) => {
  const h = emptyHistogram([0.1, 1]);
  observe(h, 0.2);
  const m = parseChildMessage({ ...beat, durations: h });
  t.notOk(m instanceof Error);
  t.same(m, { ...beat, durations: h });
});

void t.test('a malformed histogram is dropped, the heartbeat still counts', async (t) => {
  const bad = [
    { le: [1], counts: [1], sum: 1, count: 1 }, // counts must have one more entry than le
    { le: ['x'], counts: [0, 0], sum: 0, count: 0 },
    { le: [1], counts: [0, -1], sum: 0, count: 0 },
    { le: [1], counts: [0, 0], sum: Number.NaN, count: 0 },
    'nope',
  ];
  for (const durations of bad) {
    const m = parseChildMessage({ ...beat, durations });
    t.same(m, beat, `dropped: ${JSON.stringify(durations)}`);
  }
  t.same(parseChildMessage(beat), beat, 'absent stays absent');
});

void t.test('backend counts: kept when they are snake_case names with counts, dropped otherwise', async (t) => {
  const counts = { messages_without_id: 3 };
  t.same(parseChildMessage({ ...beat, counts }), { ...beat, counts });
  const bad = [
    { 'Bad-Name': 1 },
    { ok: -1 },
    { ok: Number.NaN },
    [1, 2],
    Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`c${i}`, 1])),
  ];
  for (const c of bad) t.same(parseChildMessage({ ...beat, counts: c }), beat, `dropped: ${JSON.stringify(c)}`);
});
