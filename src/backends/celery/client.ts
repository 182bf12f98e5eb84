// BackendClient for Celery: publishes protocol v2 messages exactly as Python's send_task does (through the
// broker's transport part) and reads results the way AsyncResult does (through the result store part).
import { pino } from 'pino';
import type { BackendClient, ResultOptions, SubmitOptions } from '../../client/types.js';
import { BackendUnavailableError, connectionReason } from '../../client/unavailable.js';
import { redactUrl } from '../../config/redact.js';
import type { WorkerConfig } from '../../config/types.js';
import { remoteError } from '../../tasks/errors.js';
import { buildTask } from './protocol.js';
import type { ResultMeta, ResultStore } from './results.js';
import { databaseSettings, openResultStore } from './results/index.js';
import type { Transport } from './transport.js';
import { nonConsumerOptions, openTransport } from './transports/index.js';

/** A ready result document → the value, or the error Python would raise. */
function outcome(meta: ResultMeta): { ok: boolean; value: unknown } {
  if (meta.status === 'SUCCESS') return { ok: true, value: meta.result };
  const exc = (meta.result ?? {}) as { exc_type?: string; exc_message?: unknown };
  const msg = Array.isArray(exc.exc_message) ? exc.exc_message.map(String).join(', ') : String(exc.exc_message ?? '');
  return { ok: false, value: remoteError(exc.exc_type ?? 'Exception', msg) };
}

export interface CeleryClient extends BackendClient {
  /** Our revoke: the id joins the revoked set every worker of ours consults before running a message. */
  revoke(id: string): Promise<void>;
}

export function createClient(config: WorkerConfig): CeleryClient {
  const cfg = config.celery;
  // Client connections log nothing of their own: a failing command is the caller's error.
  const logger = pino({ level: 'silent' });
  // The broker's last connection error: a command that fails while it is unreachable becomes ONE error naming the
  // URL (password redacted) and the setting that chose it, never the connection library's own output.
  let trouble: { err: Error; attempts: number } | null = null;
  const unavailable = (err: unknown): unknown =>
    trouble === null
      ? err
      : new BackendUnavailableError(
          'the Celery broker',
          redactUrl(cfg.brokerUrl),
          connectionReason(trouble.err),
          trouble.attempts,
          'celery.brokerUrl',
        );
  const guard = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (e) {
      throw unavailable(e);
    }
  };
  const transport: Promise<Transport> = openTransport(cfg.brokerUrl, {
    ...nonConsumerOptions(config, logger, 'client'),
    onConnectionError: (err, attempts) => (trouble = { err, attempts }),
  });
  const resultUrl = cfg.resultBackend ?? cfg.brokerUrl;
  let store: Promise<ResultStore> | null = null;
  const results = (): Promise<ResultStore> =>
    (store ??= transport.then((t) =>
      openResultStore(resultUrl, {
        logger,
        expiresS: cfg.resultExpiresS,
        connectTimeoutMs: 10_000,
        broker: { url: cfg.brokerUrl, transport: t },
        database: databaseSettings(cfg),
      }),
    ));

  return {
    async submit(name: string, o: SubmitOptions): Promise<{ id: string }> {
      // rpc:// results come back to a reply queue of ours: it must exist before the task is sent.
      const replyTo = /^rpc:/i.test(resultUrl) ? await guard(async () => (await results()).replyQueue?.()) : undefined;
      const m = buildTask({
        ...(replyTo !== undefined ? { replyTo } : {}),
        task: name,
        args: o.args ?? [],
        kwargs: o.kwargs ?? {},
        queue: o.queue ?? config.queues?.[0] ?? 'celery',
        etaMs: o.countdownMs !== undefined && o.countdownMs > 0 ? Date.now() + o.countdownMs : null,
      });
      await guard(async () => (await transport).publish(m.message));
      return { id: m.id };
    },

    async result(id: string, ro: ResultOptions = {}): Promise<unknown> {
      let meta: ResultMeta;
      try {
        meta = await (await results()).waitReady(id, ro.timeoutMs);
      } catch (e) {
        if ((e as Error).name === 'TimeoutError') throw remoteError('TimeoutError', (e as Error).message);
        throw unavailable(e);
      }
      const r = outcome(meta);
      if (!r.ok) throw r.value;
      return r.value;
    },

    async revoke(id: string): Promise<void> {
      await guard(async () => (await transport).control(config.hostname).revoke([id]));
    },

    async close(): Promise<void> {
      if (store !== null) await (await store).close();
      await (await transport).close();
    },
  };
}
