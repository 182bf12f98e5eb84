// The short chaos cases in CI (npm test): smaller counts than test/chaos, same code. Long ones: npm run chaos.
import t from 'tap';
import { bootFailureCase, fuzzCase, rabbitRestartCase, redisRestartCase } from '../chaos/cases-broker.js';
import { pm2StopCase } from '../chaos/cases-pm2.js';
import { killChildrenCase, killSupervisorCase, sigtermCase } from '../chaos/cases-pool.js';
import { poisonCase } from '../chaos/cases-poison.js';

// Ten cases on two brokers, one after the other: about three minutes alone, more on a loaded machine (the suite's
// 180 s default would cut the last cases off).
t.setTimeout(600_000);

void t.test('chaos (short)', async (t) => {
  await t.test('child SIGKILLed every 2 s under load', (t) =>
    // Sized so the run outlasts several kills (2 × 8 slots × 100 ms ≈ 160 tasks/s → ~10 s): the case asserts ≥ 2 kills.
    killChildrenCase(t, {
      tasks: 1500,
      sleepMs: 100,
      everyMs: 2000,
      concurrency: 2,
      childConcurrency: 8,
      timeoutMs: 90_000,
    }),
  );
  await t.test('a poison message among valid work, children killed every 2 s', (t) =>
    poisonCase(t, {
      tasks: 1000,
      sleepMs: 120,
      everyMs: 2000,
      concurrency: 2,
      childConcurrency: 8,
      deliveryLimit: 5,
      timeoutMs: 120_000,
    }),
  );
  await t.test('supervisor SIGKILLed', (t) => killSupervisorCase(t, { concurrency: 3, tasks: 100 }));
  await t.test('SIGTERM under load', (t) =>
    sigtermCase(t, { concurrency: 2, childConcurrency: 4, tasks: 100, sleepMs: 1000, shutdownS: 10 }),
  );
  await t.test('pm2 stop under load', (t) => pm2StopCase(t, { tasks: 100, sleepMs: 1000 }));
  await t.test('Redis restarted mid-run', (t) => redisRestartCase(t, { tasks: 1000, sleepMs: 20 }));
  // ~25 s alone; on RabbitMQ every rerun after a kill waits for its child's other deliveries to come back, which
  // a loaded CI machine (two test files at once) stretched past 90 s: a wide bound, the case still asserts no loss.
  await t.test('child SIGKILLed every 2 s under load (RabbitMQ)', (t) =>
    killChildrenCase(
      t,
      { tasks: 1500, sleepMs: 100, everyMs: 2000, concurrency: 2, childConcurrency: 8, timeoutMs: 240_000 },
      'amqp',
    ),
  );
  // Sized so work is left when the node is down (a graceful stop takes seconds while consumers keep going).
  await t.test('RabbitMQ restarted mid-run', (t) => rabbitRestartCase(t, { tasks: 2000, sleepMs: 100 }));
  await t.test('fuzzed messages', (t) => fuzzCase(t, { bad: 500, valid: 100, huge: 3 }));
  await t.test('workers that cannot boot', (t) => bootFailureCase(t));
});
