// How the benchmark report judges a target: a ratio of value and anchor unrounded (the table rounds it to two
// decimals, which must not turn a miss into "met"), a ratio the bench computed itself as it is.
import t from 'tap';
import { meetsTarget, withRatio } from '../../bench/report.js';

void t.test('ratios to an anchor are judged unrounded', async (t) => {
  const slower = {
    name: 'p50',
    unit: 'ms',
    value: 4.32,
    anchor: { name: 'python', value: 4.3 },
    target: 1,
    lowerIsBetter: true,
  };
  t.equal(withRatio(slower).ratio, 1, 'shown as 1× (0.995 rounded)');
  t.equal(meetsTarget(withRatio(slower)), false, '0.995× does not meet ≥ 1×');
  const equal = { ...slower, value: 4.3 };
  t.equal(meetsTarget(withRatio(equal)), true, 'exactly 1× meets ≥ 1×');
  const faster = { name: 'tasks/s', unit: 'tasks/s', value: 9756, anchor: { name: 'python', value: 1484 }, target: 8 };
  t.equal(meetsTarget(withRatio(faster)), false, '6.57× misses ≥ 8×');
  t.equal(meetsTarget({ ...faster, target: 6.5 }), true, 'and meets ≥ 6.5×');
});

void t.test('a ratio the bench computed itself stands', async (t) => {
  // Temporal's per-child figure: the median of per-run ratios (0.47), not value ÷ anchor (0.446).
  const m = {
    name: 'per child',
    unit: 'activities/s',
    value: 20.28,
    anchor: { name: 'plain', value: 45.5 },
    ratio: 0.47,
    target: 0.47,
  };
  t.equal(meetsTarget(m), true);
  t.equal(meetsTarget({ ...m, ratio: 0.46 }), false);
});

void t.test('figures without an anchor', async (t) => {
  t.equal(meetsTarget({ name: 'rss', unit: 'MB', value: 47.4, target: 50, lowerIsBetter: true }), true);
  t.equal(meetsTarget({ name: 'relay', unit: 'lines/s', value: 90_000, target: 100_000 }), false);
  t.equal(meetsTarget({ name: 'info', unit: 'tasks/s', value: 1 }), null, 'no target: not judged');
});
