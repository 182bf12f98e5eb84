// SIGTERM under load: in-flight tasks finish, unstarted ones stay queued, exit 0 inside the deadline.
import t from 'tap';
import { sigtermCase } from './cases-pool.js';
import { LONG } from './harness.js';

void t.test('SIGTERM under load: warm shutdown', (t) =>
  sigtermCase(t, { concurrency: 2, childConcurrency: 4, tasks: LONG ? 5000 : 200, sleepMs: 1500, shutdownS: 10 }),
);
