// One way to connect to Redis for every part of the Celery backend (broker, results, remote control, events,
// the client), so TLS, reconnect and logging behave the same everywhere.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { BackendUnavailableError } from '../../../client/unavailable.js';
import { redactUrl } from '../../../config/redact.js';
import { connectionCode, ConnectionReporter } from '../../../log/connection.js';
import { AuthenticationError } from '../transport.js';
import { redisTarget } from './redis-url.js';

export interface ConnectOptions {
  /**
   * Connect on openRedis() (a child's broker and result connections; default), or at once (remote control,
   * clients). A connection opened by openRedis says nothing of its own until it was first up: failing to open is
   * the child's boot failure, which the supervisor reports once per restart with its backoff.
   */
  lazy?: boolean;
  /** How often a command is retried across reconnects before it fails: null = forever (workers), 3 = clients. */
  maxRetriesPerRequest?: number | null;
  /**
   * Report at debug only: a second connection to the same server in the same process (subscribers), whose
   * trouble the first one reports, and clients (their caller reports the failure in its own words).
   */
  quiet?: boolean;
  /** Give up (no more reconnects) after this many failed attempts while never connected (clients). */
  giveUpAfter?: number;
  /** Told of every connection error with the number of attempts so far (clients report the last one). */
  onError?: (err: Error, attempts: number) => void;
  /**
   * A connection its owner sets up again on every 'ready' (the consumer's doorbell): a command sent while it is
   * down fails at once instead of waiting for the reconnect, and no subscription is renewed behind its back.
   */
  setUpByOwner?: boolean;
}

/** Reconnect delays: doubling from 100 ms, capped at 5 s, plus up to 100 ms of jitter. */
export function reconnectDelayMs(times: number, random: number = Math.random()): number {
  return Math.min(50 * 2 ** Math.min(times, 10), 5000) + Math.floor(random * 100);
}

/**
 * THE Redis client set-up (worker, remote control, events, client): the URL's TLS parameters as kombu reads them,
 * reconnects forever with capped backoff and jitter, and the connection log lines of src/log/connection.ts: one
 * per failed attempt (ioredis: error, close, then "reconnecting" with the delay), "restored" once when it is back.
 */
export function connectRedis(url: string, logger: Logger, role: string, o: ConnectOptions = {}): Redis {
  const target = redisTarget(url);
  const lazy = o.lazy ?? true;
  let everConnected = false;
  /** Failed connection attempts since the last time it was up. */
  let failures = 0;
  /** The error of the attempt that is failing now (a drop without one just closes). */
  let lastError: Error | null = null;
  const redis = new Redis(target.url, {
    ...(target.tls ? { tls: target.tls } : {}),
    lazyConnect: lazy,
    maxRetriesPerRequest: o.maxRetriesPerRequest === undefined ? null : o.maxRetriesPerRequest,
    enableAutoPipelining: o.setUpByOwner !== true,
    ...(o.setUpByOwner === true ? { enableOfflineQueue: false, autoResubscribe: false, maxRetriesPerRequest: 0 } : {}),
    retryStrategy: (times) => {
      if (!everConnected && o.giveUpAfter !== undefined && times >= o.giveUpAfter) return null;
      return reconnectDelayMs(times);
    },
  });
  const report = new ConnectionReporter(logger, { role, url }, o.quiet === true);
  redis.on('ready', () => {
    everConnected = true;
    failures = 0;
    lastError = null;
    report.up();
  });
  redis.on('error', (err: Error) => {
    lastError = err;
    o.onError?.(err, ++failures);
  });
  redis.on('reconnecting', (delayMs: unknown) => {
    const err = lastError;
    lastError = null;
    // Until a child's connection was first up, its failure is the boot failure (see ConnectOptions.lazy).
    if (lazy && !everConnected) return;
    report.failed(err, typeof delayMs === 'number' ? delayMs : 0);
  });
  return redis;
}

/** What a connection's role is called in an error (the same words as the client's). */
const WHAT: Record<string, string> = { broker: 'the Celery broker', results: 'the Celery result backend' };

/** Redis's answers to wrong or missing credentials (Redis 6+ ACL, and the older requirepass wording). */
const AUTH_FAILURE = /^(WRONGPASS|NOAUTH)\b|^ERR (invalid (username-)?password|AUTH .*without any password)/;

/**
 * Connect now or fail with ONE error naming the server, its URL (password redacted) and the code: the child
 * reports it as a retryable boot failure. Reconnects are automatic afterwards. Refused credentials fail at once
 * with AuthenticationError (retrying cannot help: the child reports a boot error instead of retrying forever).
 */
export async function openRedis(redis: Redis, timeoutMs: number, role: string, url: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let lastError = null as Error | null; // set by the listener (TS cannot see the closure assign it)
  let refused: ((err: Error) => void) | undefined;
  const what = WHAT[role] ?? `the ${role} Redis`;
  const authError = (err: Error): AuthenticationError =>
    new AuthenticationError(`${what} ${redactUrl(url)}: authentication failed (${err.message.trim()})`);
  const onError = (err: Error): void => {
    lastError = err;
    if (AUTH_FAILURE.test(err.message)) refused?.(authError(err));
  };
  redis.on('error', onError);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), timeoutMs);
    refused = reject;
  });
  try {
    await Promise.race([redis.connect(), timeout]);
  } catch (err) {
    if (err instanceof AuthenticationError) throw err;
    if (lastError !== null && AUTH_FAILURE.test(lastError.message)) throw authError(lastError);
    // ioredis rejects with "Connection is closed."; the socket's own error says why.
    throw new BackendUnavailableError(what, redactUrl(url), connectionCode(lastError ?? err), 1);
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
  redis.removeAllListeners('reconnecting');
  redis.removeAllListeners('error');
  redis.on('error', () => undefined);
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}
