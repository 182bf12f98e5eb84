// kombu's Redis transport as a Transport: a fetch loop that pops and holds up to `prefetch` messages in one Lua
// call and, when there is nothing, waits for the doorbell (redis-doorbell.ts) instead of polling; settle operations
// on the held set, publishing, and the upkeep only Redis needs (refresh our holds, give back holds orphaned by a
// lost reply, a dead child's or a timed-out one's).
import type { Redis } from 'ioredis';
import { ChurnMap } from '../../../util/churn-map.js';
import type { ResultStore } from '../results.js';
import { RedisResultStore } from '../results/redis.js';
import { Broker, DEAD_LETTER_MESSAGE_BYTES, type Fetched } from './redis-broker.js';
import { closeRedis, connectRedis, openRedis } from './redis-connection.js';
import { dbOf, RedisControlChannel, RedisEventChannel } from './redis-control.js';
import { consumeKeys, decodeEnvelope, encodeEnvelope, keyOf, queueOfKey } from './redis-envelope.js';
import { Doorbell } from './redis-doorbell.js';
import { RedisSubscription } from './redis-fetch-loop.js';
import { Holders } from './redis-holders.js';
import { Settler } from './redis-settle.js';
import type {
  ConsumeOptions,
  ControlChannel,
  DeadLetter,
  Delivery,
  EventChannel,
  OutboundMessage,
  SettleableDelivery,
  Subscription,
  Transport,
  TransportOptions,
} from '../transport.js';

/** kombu's restore_visible runs at most this often (or every tick when the visibility timeout is short). */
const RESTORE_VISIBLE_MS = 60_000;

/** Where a held message came from, to push it back or dead-letter it as it was. */
interface Held {
  key: string;
  raw: string;
  /** Its exact bytes when they are not UTF-8. */
  bytes?: Buffer;
}

export class RedisTransport implements Transport {
  readonly name = 'redis';
  readonly broker: Broker;
  readonly holders: Holders;
  readonly #held = new ChurnMap<string, Held>();
  #sub: RedisSubscription | null = null;
  #maint: NodeJS.Timeout | null = null;
  #maintBusy = false;
  #settler: Settler | null = null;
  #events: RedisEventChannel | null = null;
  #bell: Doorbell | null = null;
  #visibleAt = 0;

  constructor(
    readonly url: string,
    readonly redis: Redis,
    private readonly o: TransportOptions,
  ) {
    this.broker = new Broker(redis, {
      hostname: o.nodename,
      index: o.index,
      pid: o.pid,
      deadLetterKey: o.cfg.deadLetterKey,
      visibilityTimeoutS: o.cfg.visibilityTimeoutS,
      deadLetterMax: o.cfg.deadLetterMax,
    });
    this.holders = new Holders(this.broker, { index: o.index, pid: o.pid, ppid: o.ppid ?? process.ppid });
  }

  async consume(c: ConsumeOptions): Promise<Subscription> {
    if (this.#sub !== null) throw new Error('redis transport: one consumer per transport');
    await this.holders.register(this.o.now());
    // A previous incarnation of this slot (or any dead child of this node) may have died holding messages.
    const restored = await this.holders.restoreDead(this.o.isAlive, this.o.now());
    if (restored > 0) this.o.logger.warn({ restored }, 'restored messages held by a dead child');
    const keys = consumeKeys(c.queues);
    const bell = (this.#bell = new Doorbell(this.url, this.o.logger, keys));
    const sub = (this.#sub = new RedisSubscription(this, c, this.o, keys, bell));
    // Upkeep runs while anything may be held: through a drain too, until close().
    const vtMs = this.o.cfg.visibilityTimeoutS * 1000;
    this.#maint = setInterval(
      () => void this.#maintenance(() => sub.fetching, sub.active),
      Math.max(250, Math.min(vtMs / 4, 10_000)),
    );
    return sub;
  }

  /** Called by the subscription for each fetched entry: hold it, then hand it over. */
  delivery(f: Fetched): Delivery {
    const queue = queueOfKey(f.key);
    if (f.flag === 'dead') return { kind: 'dead-lettered', queue, reason: 'not a kombu envelope with a delivery_tag' };
    this.#held.set(f.tag, f.bytes ? { key: f.key, raw: f.raw, bytes: f.bytes } : { key: f.key, raw: f.raw });
    const d = decodeEnvelope(f.raw);
    if (!d.ok) return { kind: 'undecodable', tag: f.tag, queue, reason: d.reason, id: d.id, task: d.task, raw: f.raw };
    return { kind: 'message', tag: f.tag, queue, message: d.message, revoked: f.flag === 'revoked' };
  }

  get unsettled(): number {
    return this.#held.size;
  }

  /** Tags handed over and not settled yet: our live holds. */
  holding(tag: string): boolean {
    return this.#held.has(tag);
  }

  heldTags(): string[] {
    return [...this.#held.keys()];
  }

  #settled(tags: readonly string[]): void {
    for (const t of tags) this.#held.delete(t);
    this.#sub?.wake();
  }

  async ack(ds: readonly SettleableDelivery[]): Promise<void> {
    const tags = ds.map((d) => d.tag);
    await this.broker.ack(tags);
    this.#settled(tags);
  }

  /** A restore that throws keeps the hold ours (refreshed; given back by the next try or our supervisor). */
  async restore(d: SettleableDelivery, o: { lost?: string } = {}): Promise<boolean> {
    const back = await this.broker.restore(d.tag, { lost: o.lost ?? null });
    this.#settled([d.tag]);
    return back;
  }

  async requeue(d: SettleableDelivery): Promise<void> {
    const h = this.#held.get(d.tag);
    if (h === undefined) return;
    await this.broker.pushAndAck(d.tag, h.key, h.bytes ?? h.raw, 'L');
    this.#settled([d.tag]);
  }

  async setWaiting(d: SettleableDelivery, waiting: boolean): Promise<void> {
    if (this.#held.has(d.tag)) await this.broker.park([d.tag], waiting);
  }

  workerLost(
    child: { index: number; pid: number },
    reason: string | null,
  ): Promise<{ restored: number; charged: number }> {
    return this.holders.restoreHolder(`${child.index}.${child.pid}`, reason);
  }

  async republish(d: SettleableDelivery, out: OutboundMessage): Promise<void> {
    await this.broker.pushAndAck(d.tag, await this.#key(out), encodeEnvelope(out), 'L');
    this.#settled([d.tag]);
  }

  async deadLetter(d: SettleableDelivery, why: DeadLetter): Promise<void> {
    const entry = JSON.stringify({
      reason: why.reason,
      queue: d.queue,
      task_id: why.taskId,
      task: why.task,
      ...deadLetterMessage(this.#held.get(d.tag)?.raw ?? null),
      worker: why.worker,
      at: why.at,
    });
    await this.broker.pushAndAck(d.tag, this.o.cfg.deadLetterKey, entry, 'L', this.broker.deadLetterMax);
    this.#settled([d.tag]);
  }

  async publish(out: OutboundMessage): Promise<void> {
    await this.broker.push(await this.#key(out), encodeEnvelope(out));
  }

  /** The list a message goes to: the default exchange routes by queue name; any other by kombu's bindings. */
  async #key(out: OutboundMessage): Promise<string> {
    if (out.exchange === '') return keyOf(out);
    const [first] = await this.broker.targets(out.exchange, out.routingKey, out.priority);
    return first ?? keyOf(out);
  }

  settleWithResult(store: ResultStore): ((d: SettleableDelivery, id: string, meta: string) => Promise<void>) | null {
    // Only a Redis store on this very connection: the script stores and acks in one step.
    if (!(store instanceof RedisResultStore) || store.redis !== this.redis) return null;
    const settler = (this.#settler ??= new Settler(this.redis, this.broker.heldKey, store.expiresS));
    return async (d, id, meta) => {
      await settler.settle(id, meta, d.tag);
      this.#settled([d.tag]);
    };
  }

  control(nodename: string): ControlChannel {
    return new RedisControlChannel(this.redis, dbOf(this.url), nodename, () =>
      connectRedis(this.url, this.o.logger, 'control', { lazy: false, quiet: true }),
    );
  }

  events(): EventChannel {
    return (this.#events ??= new RedisEventChannel(this.redis, dbOf(this.url)));
  }

  async #maintenance(fetching: () => boolean, consuming: boolean): Promise<void> {
    if (this.#maintBusy) return;
    this.#maintBusy = true;
    try {
      await this.#maintain(fetching, consuming);
    } catch (err) {
      this.o.logger.debug({ err: (err as Error).message }, 'maintenance skipped');
    } finally {
      this.#maintBusy = false;
    }
    await this.#sub?.tick();
  }

  /** Our own upkeep: keep our holds fresh, give back what nobody holds any more. */
  async #maintain(fetching: () => boolean, consuming: boolean): Promise<void> {
    const now = this.o.now();
    // Re-registered every tick: a broker that lost its data (restart without persistence) learns us again.
    await this.holders.register(now);
    await this.broker.refresh(this.heldTags(), now);
    // A fetch whose reply was lost with the connection left holds we never saw: give them back.
    if (!fetching() && consuming) {
      let back = 0;
      for (const tag of await this.broker.heldTags()) {
        if (!fetching() && !this.#held.has(tag) && (await this.broker.restore(tag))) back++;
      }
      if (back > 0) this.o.logger.warn({ restored: back }, 'restored holds orphaned by a lost connection');
    }
    const dead = await this.holders.restoreDead(this.o.isAlive, now);
    if (dead > 0) this.o.logger.warn({ restored: dead }, 'restored messages held by a dead child');
    // Every child of every node tries it under one lock: not on every tick, to keep an idle child's load low.
    if (now - this.#visibleAt >= Math.min(RESTORE_VISIBLE_MS, (this.o.cfg.visibilityTimeoutS * 1000) / 4)) {
      this.#visibleAt = now;
      const visible = await this.broker.restoreVisible(now);
      if (visible > 0) this.o.logger.warn({ restored: visible }, 'restored messages past the visibility timeout');
    }
  }

  async close(): Promise<void> {
    await this.#sub?.cancel();
    if (this.#maint) clearInterval(this.#maint);
    await this.#bell?.close();
    if (this.#sub !== null) await this.holders.unregister().catch(() => undefined);
    await closeRedis(this.redis);
  }
}

/**
 * The message as the dead-letter entry keeps it: whole when small; else the envelope with its body cut to
 * DEAD_LETTER_MESSAGE_BYTES (headers and properties kept, `message_bytes` says how big it was), or the raw text cut
 * when even that is too big (a 50 MB message must not become a 70 MB entry).
 */
export function deadLetterMessage(raw: string | null): { message: string | null; message_bytes?: number } {
  if (raw === null || raw.length <= DEAD_LETTER_MESSAGE_BYTES) return { message: raw };
  const bytes = Buffer.byteLength(raw);
  try {
    const env = JSON.parse(raw) as Record<string, unknown>;
    if (typeof env.body === 'string') env.body = env.body.slice(0, DEAD_LETTER_MESSAGE_BYTES);
    const cut = JSON.stringify({ ...env, body_truncated: true });
    if (cut.length <= 2 * DEAD_LETTER_MESSAGE_BYTES) return { message: cut, message_bytes: bytes };
  } catch {
    // not JSON: cut the text below
  }
  return { message: raw.slice(0, DEAD_LETTER_MESSAGE_BYTES), message_bytes: bytes };
}

/** Open the broker connection (or fail: the child reports a retryable boot failure); reconnects are automatic. */
export async function openRedisTransport(url: string, o: TransportOptions): Promise<RedisTransport> {
  if (o.connectTimeoutMs === null) {
    // A client's command fails after a few reconnects (the caller hears it); the node's waits for the broker.
    const client = o.role === 'client';
    const redis = connectRedis(url, o.logger, o.role, {
      lazy: false,
      // The node's connection reports its trouble; a client's caller reports it in its own words.
      quiet: client,
      maxRetriesPerRequest: client ? 3 : null,
      ...(client ? { giveUpAfter: 3 } : {}),
      ...(o.onConnectionError ? { onError: o.onConnectionError } : {}),
    });
    return new RedisTransport(url, redis, o);
  }
  const redis = connectRedis(url, o.logger, o.role);
  try {
    await openRedis(redis, o.connectTimeoutMs, o.role, url);
  } catch (err) {
    redis.disconnect();
    throw err; // retryable: the broker may come up later
  }
  return new RedisTransport(url, redis, o);
}
