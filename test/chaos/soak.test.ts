// Steady load: the supervisor's RSS does not grow (20 s by default, 60 s with CHAOS_LONG=1, CHAOS_SOAK_S to override).
import t from 'tap';
import { soakCase } from './cases-broker.js';
import { LONG } from './harness.js';

void t.test('memory soak', (t) =>
  soakCase(t, { seconds: Number(process.env.CHAOS_SOAK_S ?? (LONG ? 60 : 20)), perSecond: 500 }),
);
