// Celery's RPC result backend (`rpc://`, celery/backends/rpc.py) as a ResultStore on the broker's own AMQP
// connection: the worker publishes each state of a task to the default exchange with routing key = the message's
// reply_to and correlation_id = the task id (transient, JSON, the result document Celery's backends build); the
// caller consumes its own reply queue. Nothing is stored server-side: reading a result by id, groups and chords
// are not supported (Celery raises NotImplementedError for them, and so does this store).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { READY_STATES, type ResultMeta, type ResultStore } from '../results.js';
import type { AmqpTransport } from '../transports/amqp.js';

function notImplemented(what: string): Error {
  return Object.assign(new Error(`${what} is not supported by the rpc result backend`), {
    name: 'NotImplementedError',
  });
}

export interface RpcOptions {
  logger: Logger;
  /** Result expiry, seconds: the reply queue's x-expires (Celery's result_expires). 0 = none. */
  expiresS: number;
  /** Closing the store closes the transport (a store that opened one of its own). */
  ownsTransport: boolean;
}

type Waiter = { resolve: (m: ResultMeta) => void };

export class RpcResultStore implements ResultStore {
  readonly name = 'rpc';
  readonly chordJoin = 'none' as const;
  /** States received on our reply queue, by task id (the latest one). */
  readonly #seen = new Map<string, ResultMeta>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  #queue: Promise<string> | null = null;
  #off: (() => void) | null = null;

  constructor(
    readonly transport: AmqpTransport,
    private readonly o: RpcOptions,
  ) {}

  /** The worker's side: send the state to the caller's reply queue (nothing when the message named none). */
  async store(id: string, meta: ResultMeta, replyTo?: string | null): Promise<void> {
    if (!replyTo) return;
    await this.transport.publisher.publish('', replyTo, Buffer.from(JSON.stringify(meta), 'utf8'), {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: id,
      // Celery's result_persistent=False default: delivery mode 1.
      deliveryMode: 1,
    });
  }

  /** The caller's side: a queue of our own (kombu's binding: auto-deleted, expiring), consumed from now on. */
  replyQueue(): Promise<string> {
    return (this.#queue ??= new Promise<string>((resolve, reject) => {
      const name = randomUUID();
      let first = true;
      this.#off = this.transport.onEveryConnection(async (conn) => {
        const ch = await conn.createChannel();
        ch.on('error', () => undefined);
        const expires = this.o.expiresS > 0 ? { expires: this.o.expiresS * 1000 } : {};
        await ch.assertQueue(name, { durable: false, autoDelete: true, ...expires });
        await ch.consume(name, (m) => m && this.#received(m.properties.correlationId, m.content), { noAck: true });
        if (first) resolve(name);
        first = false;
      });
      this.transport.link.whenUp().catch(reject);
    }));
  }

  #received(correlationId: unknown, content: Buffer): void {
    let meta: ResultMeta;
    try {
      meta = JSON.parse(content.toString('utf8')) as ResultMeta;
    } catch {
      this.o.logger.debug('unreadable rpc result ignored');
      return;
    }
    const id = typeof correlationId === 'string' ? correlationId : String(meta.task_id ?? '');
    if (id === '') return;
    // A late STARTED never replaces a final state (messages of one task may interleave with retries).
    if (READY_STATES.has(String(this.#seen.get(id)?.status))) return;
    this.#seen.set(id, meta);
    if (!READY_STATES.has(String(meta.status))) return;
    for (const w of this.#waiters.get(id) ?? []) w.resolve(meta);
    this.#waiters.delete(id);
  }

  async get(id: string): Promise<ResultMeta | null> {
    return this.#seen.get(id) ?? null;
  }

  async getMany(ids: readonly string[]): Promise<(ResultMeta | null)[]> {
    return ids.map((id) => this.#seen.get(id) ?? null);
  }

  /** AsyncResult.get(): the state arrives on our reply queue (only for tasks sent with it as reply_to). */
  async waitReady(id: string, timeoutMs?: number): Promise<ResultMeta> {
    await this.replyQueue();
    const have = this.#seen.get(id);
    if (have && READY_STATES.has(String(have.status))) return have;
    return new Promise<ResultMeta>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      let set = this.#waiters.get(id);
      if (!set) this.#waiters.set(id, (set = new Set()));
      set.add(w);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.#waiters.get(id)?.delete(w);
          reject(Object.assign(new Error(`no result for ${id} within ${timeoutMs} ms`), { name: 'TimeoutError' }));
        }, timeoutMs);
      }
    });
  }

  async forget(id: string): Promise<void> {
    this.#seen.delete(id);
  }

  async saveGroup(): Promise<void> {
    throw notImplemented('save_group');
  }

  async restoreGroup(): Promise<string[] | null> {
    throw notImplemented('restore_group');
  }

  async deleteGroup(): Promise<void> {
    throw notImplemented('delete_group');
  }

  async close(): Promise<void> {
    this.#off?.();
    if (this.o.ownsTransport) await this.transport.close();
  }
}
