// Backoff is pure: the same attempt and random value always give the same delay, within the documented bounds.
import t from 'tap';
import { backoffDelay, DEFAULT_BACKOFF, mulberry32, nextAttempt } from '../../src/supervisor/backoff.js';

/** The waiting part of the default policy (no immediate restarts), so the arithmetic reads directly. */
const p = { ...DEFAULT_BACKOFF, immediate: 0 };

void t.test('by default the first restart is immediate, then 100 ms doubling up to the cap', async (t) => {
  const d = [0, 1, 2, 3, 4, 5, 6, 21].map((a) => backoffDelay(DEFAULT_BACKOFF, a, 0.5));
  t.same(d, [0, 100, 200, 400, 800, 1600, 3200, 30_000]);
  t.equal(backoffDelay(DEFAULT_BACKOFF, 0, 0.999999), 0, 'no jitter on an immediate restart');
  t.equal(backoffDelay({ ...p, immediate: 2 }, 1, 0.5), 0, 'immediate counts more than one restart when asked');
  t.equal(backoffDelay({ ...p, immediate: 2 }, 2, 0.5), 100);
});

void t.test('without immediate restarts the delay starts at initialMs and doubles up to the cap', async (t) => {
  const mid = [0, 1, 2, 3, 4, 5, 20].map((a) => backoffDelay(p, a, 0.5));
  t.same(mid, [100, 200, 400, 800, 1600, 3200, 30_000]);
  t.equal(backoffDelay(p, 1e9, 0.5), 30_000, 'huge attempt counts stay at the cap');
});

void t.test('jitter spreads the delay by ±20% and never exceeds the cap', async (t) => {
  t.equal(backoffDelay(p, 0, 0), 80);
  t.equal(backoffDelay(p, 0, 0.999999), 120);
  t.equal(backoffDelay(p, 30, 0.999999), 30_000, 'cap applies after jitter');
  t.equal(backoffDelay(p, 30, 0), 24_000);
  t.equal(backoffDelay(p, 0, Number.NaN), 80, 'a bad random value is treated as 0');
  t.equal(backoffDelay(p, -3, 0.5), 100, 'negative attempts count as the first');
});

void t.test('a child that was up for the stable period resets its slot', async (t) => {
  t.equal(nextAttempt(p, 7, 60_000), 0);
  t.equal(nextAttempt(p, 7, 59_999), 7);
  t.equal(nextAttempt(p, 7, null), 7, 'never ready: no reset');
});

void t.test('seeded PRNG is deterministic and in [0, 1)', async (t) => {
  let seed = 42;
  const a: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const r = mulberry32(seed);
    seed = r.seed;
    a.push(r.value);
  }
  t.ok(a.every((x) => x >= 0 && x < 1));
  t.equal(new Set(a).size, 1000, 'no short cycle');
  t.equal(mulberry32(42).value, a[0], 'same seed, same value');
});
