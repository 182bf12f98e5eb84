// The supervisor SIGKILLed under load: every child gone within 1 s (checked in /proc), nothing lost after.
import t from 'tap';
import { killSupervisorCase } from './cases-pool.js';
import { LONG } from './harness.js';

void t.test('supervisor SIGKILLed: no orphans, nothing lost', (t) =>
  killSupervisorCase(t, { concurrency: 4, tasks: LONG ? 2000 : 200 }),
);
