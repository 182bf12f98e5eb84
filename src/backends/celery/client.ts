// BackendClient for Celery: publishes protocol v2 messages exactly as Python's send_task does and reads results
// the way AsyncResult does (subscribe to the result key's channel, with a GET for results already stored).
import { Redis } from 'ioredis';
import type { BackendClient, ResultOptions, SubmitOptions } from '../../client/types.js';
import { BackendUnavailableError, connectionReason } from '../../client/unavailable.js';
import { redactUrl } from '../../config/redact.js';
import type { WorkerConfig } from '../../config/types.js';
import { remoteError } from '../../tasks/errors.js';
import { buildMessage } from './protocol.js';
import { redisTarget } from './redis-url.js';
import { TASK_KEY_PREFIX } from './results.js';
import { REVOKED_KEY } from './transport.js';

const READY = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

function settle(raw: string): { done: false } | { done: true; ok: boolean; value: unknown } {
  const meta = JSON.parse(raw) as { status?: string; result?: unknown };
  if (!meta.status || !READY.has(meta.status)) return { done: false };
  if (meta.status === 'SUCCESS') return { done: true, ok: true, value: meta.result };
  const exc = (meta.result ?? {}) as { exc_type?: string; exc_message?: unknown };
  const msg = Array.isArray(exc.exc_message) ? exc.exc_message.map(String).join(', ') : String(exc.exc_message ?? '');
  return { done: true, ok: false, value: remoteError(exc.exc_type ?? 'Exception', msg) };
}

export interface CeleryClient extends BackendClient {
  /** Issue 4's revoke: the id joins the revoked set every worker of ours consults before running a message. */
  revoke(id: string): Promise<void>;
}

/** Connection attempts before a client that never connected gives up (about 1 s against a refused port). */
const FIRST_CONNECT_ATTEMPTS = 3;

/**
 * An ioredis connection for a client: it never prints ioredis's "Unhandled error event" (the last error is kept),
 * gives up after FIRST_CONNECT_ATTEMPTS when it never connected, and reconnects with backoff once it has been
 * connected (a broker restart during `--wait`). A command that fails while it is not connected is reported by
 * `unavailable` as the one BackendUnavailableError naming the URL (password redacted), not ioredis's own error.
 */
function clientRedis(
  url: string,
  what: string,
  setting: string,
): { redis: Redis; unavailable: (err: unknown) => unknown } {
  let lastError: unknown;
  let connected = false;
  let failures = 0;
  const retryStrategy = (times: number): number | null => {
    failures = times;
    if (!connected && times >= FIRST_CONNECT_ATTEMPTS) return null;
    return Math.min(times * 200, 2000);
  };
  // maxRetriesPerRequest: a command waits for at most 3 reconnects (ioredis's default) before it fails.
  const opts = { maxRetriesPerRequest: 3, connectTimeout: 4000, retryStrategy };
  const t = redisTarget(url);
  const redis = new Redis(t.url, t.tls ? { ...opts, tls: t.tls } : opts);
  redis.on('error', (e: unknown) => (lastError = e));
  redis.on('ready', () => {
    connected = true;
    failures = 0;
  });
  return {
    redis,
    unavailable: (err) =>
      redis.status === 'ready' || lastError === undefined
        ? err
        : new BackendUnavailableError(
            what,
            redactUrl(url),
            connectionReason(lastError),
            Math.max(failures, 1),
            setting,
          ),
  };
}

export function createClient(config: WorkerConfig): CeleryClient {
  const cfg = config.celery;
  const brokerConn = clientRedis(cfg.brokerUrl, 'the Celery broker', 'celery.brokerUrl');
  const broker = brokerConn.redis;
  const resultUrl = cfg.resultBackend ?? cfg.brokerUrl;
  const resultsConn =
    resultUrl === cfg.brokerUrl
      ? brokerConn
      : clientRedis(resultUrl, 'the Celery result backend', 'celery.resultBackend');
  const results = resultsConn.redis;
  const subs: Redis[] = [];
  const defaultQueue = config.queues?.[0] ?? 'celery';

  return {
    async submit(name: string, o: SubmitOptions): Promise<{ id: string }> {
      const m = buildMessage({
        task: name,
        args: o.args ?? [],
        kwargs: o.kwargs ?? {},
        queue: o.queue ?? defaultQueue,
        etaMs: o.countdownMs !== undefined && o.countdownMs > 0 ? Date.now() + o.countdownMs : null,
      });
      await broker.lpush(m.key, m.raw).catch((e: unknown) => {
        throw brokerConn.unavailable(e);
      });
      return { id: m.id };
    },

    async result(id: string, ro: ResultOptions = {}): Promise<unknown> {
      const key = TASK_KEY_PREFIX + id;
      const sub = results.duplicate();
      sub.on('error', () => undefined); // reported through `results` (same server), never by ioredis itself
      subs.push(sub);
      try {
        const outcome = await new Promise<{ ok: boolean; value: unknown }>((resolve, reject) => {
          let timer: NodeJS.Timeout | undefined;
          const done = (raw: string | null): boolean => {
            if (raw === null) return false;
            const s = settle(raw);
            if (!s.done) return false;
            clearTimeout(timer);
            resolve(s);
            return true;
          };
          if (ro.timeoutMs !== undefined) {
            timer = setTimeout(
              () => reject(remoteError('TimeoutError', `no result for ${id} within ${ro.timeoutMs} ms`)),
              ro.timeoutMs,
            );
          }
          sub.on('message', (_ch: string, raw: string) => void done(raw));
          // Subscribe first, then read: a result stored in between is seen by one of the two.
          sub
            .subscribe(key)
            .then(() => results.get(key))
            .then((raw) => void done(raw))
            .catch((e: unknown) => reject(resultsConn.unavailable(e)));
        });
        if (!outcome.ok) throw outcome.value;
        return outcome.value;
      } finally {
        subs.splice(subs.indexOf(sub), 1);
        sub.disconnect();
      }
    },

    async revoke(id: string): Promise<void> {
      await broker.sadd(REVOKED_KEY, id).catch((e: unknown) => {
        throw brokerConn.unavailable(e);
      });
    },

    async close(): Promise<void> {
      for (const s of subs) s.disconnect();
      await broker.quit().catch(() => broker.disconnect());
      if (results !== broker) await results.quit().catch(() => results.disconnect());
    },
  };
}
