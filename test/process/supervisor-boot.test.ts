// Real processes: children that cannot boot stop the pool with a documented exit code; a backend that is
// merely unreachable is retried until it comes up; a missing worker entry is refused with one line.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { runSupervisor } from '../../src/supervisor/index.js';
import { byMsg, captureLogger, startPool, testConfig, tmp } from './_helpers.js';

void t.test('BootError in start() → EXIT.BOOT_FAILURE at once, with one fatal reason line', async (t) => {
  const p = startPool(t, 'fatal-boot', { concurrency: 2 });
  t.equal(await p.h.done, EXIT.BOOT_FAILURE);
  const fatal = p.lines.filter((l) => l.level === 60 && l.msg === 'pool giving up');
  t.equal(fatal.length, 1, 'one fatal line');
  t.match(String(fatal[0]?.reason), /cannot boot \(BootError: fake: bad token\)/);
  t.ok(p.lines.some(byMsg('child boot failed')), 'the fatal IPC message was logged');
  t.ok(p.pids.length <= 2, `no restart after a non-retryable boot error (forked ${p.pids.length})`);
});

void t.test('a child crashing during boot K times in a row → EXIT.BOOT_FAILURE', async (t) => {
  const p = startPool(t, 'crash-boot', { concurrency: 1 }, { pool: { maxBootFailures: 3 } });
  t.equal(await p.h.done, EXIT.BOOT_FAILURE);
  t.equal(p.pids.length, 3, 'three attempts');
  t.equal(p.lines.filter(byMsg('child failed to boot')).length, 3);
  t.match(String(p.lines.find(byMsg('pool giving up'))?.reason), /3 consecutive boot failures/);
});

void t.test('a child not ready within the ready timeout is killed and counted as a boot failure', async (t) => {
  const p = startPool(t, 'hang-boot', { concurrency: 1, readyTimeoutMs: 1500 }, { pool: { maxBootFailures: 1 } });
  t.equal(await p.h.done, EXIT.BOOT_FAILURE);
  t.ok(p.lines.some(byMsg('child not ready in time, killing')));
  t.match(String(p.lines.find(byMsg('child failed to boot'))?.hint), /not ready in time/);
});

void t.test('an unreachable backend (RETRYABLE_BOOT) is retried with backoff until it comes up', async (t) => {
  const readyFile = join(tmp(), 'broker-up');
  const p = startPool(
    t,
    'retryable-boot',
    { concurrency: 1 },
    { env: { ...process.env, FAKE_READY_FILE: readyFile }, pool: { maxBootFailures: 2 } },
  );
  // More retries than maxBootFailures: they are not boot failures.
  await p.waitFor((l) => l.msg === 'child restart scheduled' && l.attempt === 3);
  writeFileSync(readyFile, 'up');
  await p.seen('ready');
  t.ok(p.lines.filter(byMsg('child could not reach its backend, retrying')).length >= 3);
  const delays = p.lines.filter(byMsg('child restart scheduled')).map((l) => l.delayMs as number);
  t.ok(delays[2]! > delays[0]!, `backoff grows: ${delays.join(', ')}`);
  p.h.signal('TERM');
  t.equal(await p.h.done, EXIT.OK);
});

void t.test('a backend without a worker entry is refused with one clear line and EXIT.CONFIG', async (t) => {
  const { logger, lines } = captureLogger();
  const code = await runSupervisor(testConfig({ backend: 'hatchet' }), {
    logger,
    workerEntry: '/nonexistent/hatchet.js',
  });
  t.equal(code, EXIT.CONFIG);
  t.equal(lines.length, 1);
  t.match(lines[0], {
    level: 60,
    msg: 'backend has no worker entry',
    backend: 'hatchet',
    entry: '/nonexistent/hatchet.js',
  });
});
