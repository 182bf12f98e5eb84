// The pool's ceiling (docs/supervisor.md): TTIN (and Celery's pool_grow, which sends TTINs) and new autoscale
// bounds never take the pool past twice its configured size.
import t from 'tap';
import { poolCeiling } from '../../src/supervisor/index.js';
import { logged, of, Sim } from '../helpers/pool-sim.js';

void t.test('the ceiling is twice the configured size', async (t) => {
  t.equal(poolCeiling({ concurrency: 4, autoscale: null }), 8);
  t.equal(poolCeiling({ concurrency: 4, autoscale: { max: 10, min: 2 } }), 20);
});

void t.test('TTIN stops at the ceiling', async (t) => {
  const sim = new Sim({ concurrency: 2, maxChildren: 4 });
  sim.running();
  sim.signal('TTIN');
  sim.signal('TTIN');
  t.equal(sim.s.slots.length, 4);
  const fx = sim.signal('TTIN');
  t.ok(logged(fx, 'pool at its ceiling, not growing'));
  t.same(of(fx, 'spawn'), [], 'no fork');
  t.equal(sim.s.slots.length, 4);
});

void t.test('autoscale bounds are clamped to the ceiling', async (t) => {
  const sim = new Sim({ concurrency: 2, autoscale: { max: 3, min: 1 }, maxChildren: 6 });
  sim.running();
  const fx = sim.ev({ type: 'autoscale', now: sim.now, max: 1000, min: 1000 });
  t.ok(logged(fx, 'autoscale bound above the pool ceiling'));
  t.same(sim.s.autoscale, { max: 6, min: 6 });
  t.equal(sim.s.slots.length, 6, 'grown to the ceiling, not to 1000');
});
