// BackendClient for Celery: publishes protocol v2 messages exactly as Python's send_task does and reads results
// the way AsyncResult does (subscribe to the result key's channel, with a GET for results already stored).
import { Redis } from 'ioredis';
import type { BackendClient, ResultOptions, SubmitOptions } from '../../client/types.js';
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

export function createClient(config: WorkerConfig): CeleryClient {
  const cfg = config.celery;
  const opts = { maxRetriesPerRequest: 3, lazyConnect: false };
  const connect = (url: string): Redis => {
    const t = redisTarget(url);
    return new Redis(t.url, t.tls ? { ...opts, tls: t.tls } : opts);
  };
  const broker = connect(cfg.brokerUrl);
  const resultUrl = cfg.resultBackend ?? cfg.brokerUrl;
  const results = resultUrl === cfg.brokerUrl ? broker : connect(resultUrl);
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
      await broker.lpush(m.key, m.raw);
      return { id: m.id };
    },

    async result(id: string, ro: ResultOptions = {}): Promise<unknown> {
      const key = TASK_KEY_PREFIX + id;
      const sub = results.duplicate();
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
            .catch(reject);
        });
        if (!outcome.ok) throw outcome.value;
        return outcome.value;
      } finally {
        subs.splice(subs.indexOf(sub), 1);
        sub.disconnect();
      }
    },

    async revoke(id: string): Promise<void> {
      await broker.sadd(REVOKED_KEY, id);
    },

    async close(): Promise<void> {
      for (const s of subs) s.disconnect();
      await broker.quit().catch(() => broker.disconnect());
      if (results !== broker) await results.quit().catch(() => results.disconnect());
    },
  };
}
