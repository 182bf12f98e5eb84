// A child SIGKILLed every 2 s while tasks run: every task completes, none lost, duplicates counted.
import t from 'tap';
import { killChildrenCase } from './cases-pool.js';
import { LONG } from './harness.js';
import { TRANSPORTS } from '../e2e/celery-harness.js';

const SIZES = LONG
  ? { tasks: 20_000, sleepMs: 20, everyMs: 2000, concurrency: 2, childConcurrency: 16, timeoutMs: 600_000 }
  : { tasks: 2000, sleepMs: 50, everyMs: 2000, concurrency: 2, childConcurrency: 16, timeoutMs: 120_000 };

for (const kind of TRANSPORTS) {
  void t.test(`child SIGKILLed every 2 s under load (${kind}, ${LONG ? 'long' : 'short'})`, (t) =>
    killChildrenCase(t, SIZES, kind),
  );
}
