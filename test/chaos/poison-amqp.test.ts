// The poison case on RabbitMQ (a classic queue): a task that kills its child on every run among valid work while a
// child is SIGKILLed every 2 s. The broker gives a dead child's messages back by itself; the count lives in the
// message (docs/celery-amqp.md): no valid task lost, the poison one fails with WorkerLostError, the pool runs on.
import t from 'tap';
import { poisonCase } from './cases-poison.js';
import { LONG } from './harness.js';

const common = { everyMs: 2000, concurrency: 2, deliveryLimit: 5, kind: 'amqp' as const };

void t.test(`RabbitMQ: poison message among valid work, children killed every 2 s (${LONG ? 'long' : 'short'})`, (t) =>
  poisonCase(
    t,
    LONG
      ? { ...common, tasks: 20_000, sleepMs: 20, childConcurrency: 16, timeoutMs: 600_000 }
      : { ...common, tasks: 2000, sleepMs: 150, childConcurrency: 8, timeoutMs: 180_000 },
  ),
);
