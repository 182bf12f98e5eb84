// The brokers a Celery e2e test runs on, in the shape issue 14's harness gives them (`startBrokers(kind)`,
// `TRANSPORTS`): when the AMQP transport lands, its harness exports these and 'amqp' joins TRANSPORTS.
import { startRabbit, type RabbitServer } from '../helpers/rabbitmq.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

export type TransportKind = 'redis' | 'amqp';
export const TRANSPORTS: readonly TransportKind[] = ['redis'];

export interface Brokers {
  kind: TransportKind;
  /** CELERY_BROKER_URL for this transport. */
  broker: string;
  /** A Redis for results (and test bookkeeping): the broker itself on Redis, a second server with RabbitMQ. */
  redis: RedisServer;
  rabbit: RabbitServer | null;
  /** Worker environment: broker and Redis results. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** One broker of `kind` (RabbitMQ and its result Redis start together) for a test file; fails loudly if missing. */
export async function startBrokers(kind: TransportKind): Promise<Brokers> {
  if (kind === 'redis') {
    const redis = await startRedis();
    return {
      kind,
      broker: redis.url,
      redis,
      rabbit: null,
      env: { CELERY_BROKER_URL: redis.url, CELERY_RESULT_BACKEND: redis.url },
      stop: () => redis.stop(),
    };
  }
  const [rabbit, redis] = await Promise.all([startRabbit(), startRedis()]);
  return {
    kind,
    broker: rabbit.url,
    redis,
    rabbit,
    env: { CELERY_BROKER_URL: rabbit.url, CELERY_RESULT_BACKEND: redis.url },
    stop: async () => {
      await Promise.all([rabbit.stop(), redis.stop()]);
    },
  };
}
