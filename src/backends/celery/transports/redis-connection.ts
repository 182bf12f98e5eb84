// One way to connect to Redis for every part of the Celery backend (broker, results, remote control, events,
// the client), so TLS, reconnect and logging behave the same everywhere.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redactUrl } from '../../../config/redact.js';
import { AuthenticationError } from '../transport.js';
import { redisTarget } from './redis-url.js';

export interface ConnectOptions {
  /** Connect on first use or on openRedis() (the worker), or at once (remote control, clients). Default true. */
  lazy?: boolean;
  /** How often a command is retried across reconnects before it fails: null = forever (workers), 3 = clients. */
  maxRetriesPerRequest?: number | null;
  /** Log state changes at debug only (the remote-control node: its broker troubles show in the children's logs). */
  quiet?: boolean;
  /** Give up (no more reconnects) after this many failed attempts while never connected (clients). */
  giveUpAfter?: number;
  /** Told of every connection error with the number of attempts so far (clients report the last one). */
  onError?: (err: Error, attempts: number) => void;
}

/**
 * THE Redis client set-up (worker, remote control, events, client): the URL's TLS parameters as kombu reads them,
 * reconnects forever with capped backoff and jitter, one log line per connection state change.
 */
export function connectRedis(url: string, logger: Logger, role: string, o: ConnectOptions = {}): Redis {
  const target = redisTarget(url);
  let everConnected = false;
  /** Failed connection attempts since the last time it was up. */
  let failures = 0;
  const redis = new Redis(target.url, {
    ...(target.tls ? { tls: target.tls } : {}),
    lazyConnect: o.lazy ?? true,
    maxRetriesPerRequest: o.maxRetriesPerRequest === undefined ? null : o.maxRetriesPerRequest,
    enableAutoPipelining: true,
    retryStrategy: (times) => {
      if (!everConnected && o.giveUpAfter !== undefined && times >= o.giveUpAfter) return null;
      return Math.min(50 * 2 ** Math.min(times, 10), 5000) + Math.floor(Math.random() * 100);
    },
  });
  redis.on('ready', () => {
    everConnected = true;
    failures = 0;
  });
  if (o.onError) {
    const report = o.onError;
    redis.on('error', (err: Error) => report(err, ++failures));
  }
  if (o.quiet === true) {
    redis.on('error', (err: Error) => logger.debug({ role, err: err.message }, 'redis connection error'));
    return redis;
  }
  let state: 'connecting' | 'up' | 'down' = 'connecting';
  redis.on('ready', () => {
    if (state === 'down') logger.info({ role }, 'redis connection restored');
    state = 'up';
  });
  redis.on('error', (err: Error) => {
    if (state !== 'down') logger.warn({ role, err: err.message }, 'redis connection lost, reconnecting with backoff');
    state = 'down';
  });
  redis.on('close', () => {
    if (state === 'up') logger.warn({ role }, 'redis connection lost, reconnecting with backoff');
    if (state === 'up') state = 'down';
  });
  return redis;
}

/** Redis's answers to wrong or missing credentials (Redis 6+ ACL, and the older requirepass wording). */
const AUTH_FAILURE = /^(WRONGPASS|NOAUTH)\b|^ERR (invalid (username-)?password|AUTH .*without any password)/;

/**
 * Connect now or fail (the child reports a retryable boot failure); reconnects are automatic afterwards. Refused
 * credentials fail at once with AuthenticationError naming `what` and the URL (password masked): retrying cannot
 * help, so the child reports a boot error instead of "Connection is closed." forever.
 */
export async function openRedis(
  redis: Redis,
  timeoutMs: number,
  target: { url: string; what: string } = { url: 'redis://', what: 'redis' },
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let refused: ((err: Error) => void) | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis not reachable within ${timeoutMs} ms`)), timeoutMs);
    refused = reject;
  });
  const onError = (err: Error): void => {
    if (!AUTH_FAILURE.test(err.message)) return;
    const why = `${target.what} ${redactUrl(target.url)}: authentication failed (${err.message.trim()})`;
    refused?.(new AuthenticationError(why));
  };
  redis.on('error', onError);
  try {
    await Promise.race([redis.connect(), timeout]);
  } finally {
    clearTimeout(timer);
    redis.off('error', onError);
  }
}

/**
 * Close on purpose: QUIT when connected (pending replies arrive first), else drop it now (a client still
 * reconnecting to a broker that is down would queue the QUIT forever and keep the process alive).
 */
export async function closeRedis(redis: Redis): Promise<void> {
  // Closing on purpose is not "connection lost": drop the state-change loggers first.
  redis.removeAllListeners('close');
  redis.removeAllListeners('error');
  redis.on('error', () => undefined);
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}
