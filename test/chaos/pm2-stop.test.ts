// `pm2 stop` under load: in-flight tasks finish, unstarted ones stay queued, exit 0 inside the deadline.
import t from 'tap';
import { pm2StopCase } from './cases-pm2.js';
import { LONG } from './harness.js';

void t.test('pm2 stop under load', (t) => pm2StopCase(t, { tasks: LONG ? 2000 : 100, sleepMs: 1500 }));
