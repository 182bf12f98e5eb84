// Real processes: warm shutdown waits for in-flight work; a child that ignores shutdown is stopped cold at the
// deadline and SIGKILLed after the grace; a second TERM goes cold at once.
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { byMsg, startPool } from './_helpers.js';

void t.test('warm shutdown waits for a slow drain, then exits 0', async (t) => {
  const p = startPool(t, 'slow-drain', { concurrency: 2 }, { env: { ...process.env, FAKE_DRAIN_MS: '600' } });
  await p.seen('ready');
  const t0 = Date.now();
  p.h.signal('TERM');
  t.equal(await p.h.done, EXIT.OK);
  t.ok(Date.now() - t0 >= 550, 'waited for the drain');
  t.equal(p.lines.filter(byMsg('child drained')).length, 2);
  t.notOk(p.lines.some(byMsg('child did not drain in time, stopping cold')));
});

void t.test('a child ignoring shutdown: cold at the deadline, SIGKILL after the grace, still exit 0', async (t) => {
  const p = startPool(t, 'ignore-shutdown', { concurrency: 1, shutdownTimeoutMs: 500 }, { pool: { killGraceMs: 500 } });
  await p.seen('ready');
  const t0 = Date.now();
  p.h.signal('TERM');
  const code = await p.h.done;
  const took = Date.now() - t0;
  t.equal(code, EXIT.OK);
  t.ok(p.lines.some(byMsg('child did not drain in time, stopping cold')));
  t.ok(p.lines.some(byMsg('child did not stop in time, killing')));
  t.match(p.lines.find(byMsg('child exited')), { signal: 'SIGKILL', killed: 'stop-timeout' });
  t.ok(took >= 900 && took < 5000, `bounded by deadline + grace: ${took} ms`);
});

void t.test('second TERM → cold at once; signals during the stop respawn nothing', async (t) => {
  const p = startPool(t, 'slow-drain', { concurrency: 2 }, { env: { ...process.env, FAKE_DRAIN_MS: '30000' } });
  await p.seen('ready');
  p.signals.emit('SIGTERM');
  await p.waitFor(byMsg('pool state changed', (l) => l.to === 'stopping-warm'));
  p.signals.emit('SIGHUP');
  p.signals.emit('SIGTTIN');
  const t0 = Date.now();
  p.signals.emit('SIGTERM');
  t.equal(await p.h.done, EXIT.OK);
  t.ok(Date.now() - t0 < 3000, 'cold stop does not wait for the drain');
  t.ok(p.lines.some(byMsg('pool state changed', (l) => l.to === 'stopping-cold')));
  t.equal(p.lines.filter(byMsg('signal ignored while stopping')).length, 2);
  t.equal(p.pids.length, 2, 'nothing respawned');
});
