// Broker URL scheme → transport part. A new transport is a new file in this directory plus one line here; its
// module loads only when its scheme is used (a Redis worker never loads an AMQP client).
import { SchemeTable, type SchemePart } from '../schemes.js';
import type { Logger } from 'pino';
import type { WorkerConfig } from '../../../config/types.js';
import type { Transport, TransportOptions } from '../transport.js';
import { amqpUrlProblem } from './amqp-url.js';
import { redisUrlProblem } from './redis-url.js';

type Opener = (url: string, o: TransportOptions) => Promise<Transport>;

const redis: SchemePart<Opener> = {
  problem: redisUrlProblem,
  open: async () => (await import('./redis.js')).openRedisTransport,
};

const amqp: SchemePart<Opener> = {
  problem: amqpUrlProblem,
  open: async () => (await import('./amqp.js')).openAmqpTransport,
};

const TRANSPORTS = new SchemeTable<Opener>({
  'redis:': redis,
  'rediss:': redis,
  'amqp:': amqp,
  'amqps:': amqp,
  'pyamqp:': amqp,
});

/** Is `url` a RabbitMQ (AMQP 0-9-1) broker URL? */
export function isAmqpUrl(url: string): boolean {
  return /^(amqps?|pyamqp):/i.test(url.trim());
}

/** Why `url` cannot be a broker URL here (unknown scheme, bad parameters), or null. */
export function transportProblem(url: string): string | null {
  return TRANSPORTS.problem(url);
}

/** Load the module of `url`'s transport without connecting (throws for a URL no transport takes). */
export function loadTransport(url: string): Promise<Opener> {
  return TRANSPORTS.load(url, 'broker URL');
}

/** Connect to the broker at `url` (throws when it cannot: a retryable boot failure in a child). */
export async function openTransport(url: string, o: TransportOptions): Promise<Transport> {
  return (await loadTransport(url))(url, o);
}

/**
 * Options of a connection that never consumes (the supervisor's remote control and lost-worker restores, a client):
 * no slot of its own, and it never waits to connect (commands queue until the broker is reachable).
 */
export function nonConsumerOptions(config: WorkerConfig, logger: Logger, role: string): TransportOptions {
  return {
    logger,
    role,
    cfg: config.celery,
    nodename: config.hostname,
    index: -1,
    pid: process.pid,
    connectTimeoutMs: null,
    now: Date.now,
    isAlive: () => true,
  };
}
