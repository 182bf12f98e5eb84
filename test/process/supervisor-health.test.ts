// Real processes: a hung child is killed on heartbeat timeout and replaced; a child over the memory limit or
// past max-tasks-per-child drains and is replaced (not counted as a crash).
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { alive, byMsg, startPool } from './_helpers.js';

void t.test('heartbeat timeout → SIGKILL with the reason logged, then a replacement', async (t) => {
  const p = startPool(t, 'hang', { concurrency: 1, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 800 });
  await p.seen('ready');
  const hb = await p.waitFor(byMsg('child heartbeat timeout, killing'));
  t.equal(hb.heartbeatTimeoutMs, 800);
  const exit = await p.waitFor(byMsg('child exited unexpectedly'));
  t.equal(exit.signal, 'SIGKILL');
  t.match(String(exit.hint), /no heartbeat in time/);
  await p.waitFor(byMsg('child restart scheduled', (l) => l.cause === 'heartbeat-timeout'));
  await p.waitFor((l) => l.msg === 'child ready' && l.gen !== hb.gen);
  t.notOk(alive(hb.pid as number));
  p.h.signal('QUIT'); // the replacement hangs too: stop cold, it is SIGKILLed after the grace
  t.equal(await p.h.done, EXIT.OK);
});

void t.test('max-memory-per-child: sampled RSS over the limit → drain and replace', async (t) => {
  const p = startPool(
    t,
    'grow-memory',
    { concurrency: 1, maxMemoryPerChildKiB: 100 * 1024 },
    {
      env: { ...process.env, FAKE_GROW_MB: '150' },
      memorySampleMs: 100,
      pool: { crashLoop: { max: 100, windowMs: 60_000 } },
    },
  );
  await p.seen('ready');
  const over = await p.waitFor(byMsg('child over memory limit'));
  t.ok((over.rss as number) > 100 * 1024 * 1024, `rss ${over.rss}`);
  t.equal(over.limit, 100 * 1024 * 1024);
  await p.waitFor(byMsg('child retiring', (l) => l.reason === 'max-memory'));
  const gone = await p.waitFor(byMsg('child exited', (l) => l.gen === over.gen));
  t.equal(gone.code, 0, 'drained, exited cleanly');
  t.equal(gone.reason, 'max-memory');
  t.notOk(p.lines.some(byMsg('child exited unexpectedly')), 'not a crash');
  p.h.signal('TERM');
  t.equal(await p.h.done, EXIT.OK);
});

void t.test('max-tasks-per-child: the child drains and is replaced after N tasks', async (t) => {
  const p = startPool(
    t,
    'ok',
    { concurrency: 1, maxTasksPerChild: 5, heartbeatIntervalMs: 50 },
    { env: { ...process.env, FAKE_TASK_EVERY_MS: '20' } },
  );
  await p.seen('ready');
  const r = await p.waitFor(byMsg('child retiring', (l) => l.reason === 'max-tasks'));
  const gone = await p.waitFor(byMsg('child exited', (l) => l.gen === r.gen));
  t.equal(gone.code, 0);
  await p.waitFor((l) => l.msg === 'child ready' && (l.gen as number) > (r.gen as number));
  t.notOk(p.lines.some(byMsg('child exited unexpectedly')), 'not a crash');
  t.notOk(p.lines.some(byMsg('child restart scheduled')), 'no backoff for a planned replacement');
  p.h.signal('TERM');
  t.equal(await p.h.done, EXIT.OK);
});
