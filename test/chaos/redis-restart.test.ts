// Redis SIGKILLed and restarted mid-run: nothing lost, processing resumes within 5 s of Redis coming back.
import t from 'tap';
import { redisRestartCase } from './cases-broker.js';
import { LONG } from './harness.js';

void t.test('Redis restarted mid-run', (t) => redisRestartCase(t, { tasks: LONG ? 20_000 : 2000, sleepMs: 20 }));
