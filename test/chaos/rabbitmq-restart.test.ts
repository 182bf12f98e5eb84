// RabbitMQ stopped and started mid-run: nothing lost, consuming again within 5 s of the node being back.
import t from 'tap';
import { rabbitRestartCase } from './cases-broker.js';
import { LONG } from './harness.js';

void t.test('RabbitMQ restarted mid-run', (t) => rabbitRestartCase(t, { tasks: LONG ? 20_000 : 4000, sleepMs: 50 }));
