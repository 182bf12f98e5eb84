// The Celery broker as a part: what the consumer, the canvas, remote control and events need from a transport,
// whatever carries the messages. Redis (kombu's Redis transport) lives in transports/redis*.ts; a new transport
// is a new file there plus one line in transports/index.ts. Pull (Redis: fetch n) and push (AMQP: basic.consume
// under basic.qos) both fit `consume`: the transport never hands over more than `prefetch` unsettled deliveries.
import type { Logger } from 'pino';
import type { CeleryConfig } from '../../config/types.js';
import type { ResultStore } from './results.js';

/** A message as received, transport-neutral: what protocol.ts parses. */
export interface InboundMessage {
  headers: Record<string, unknown>;
  /** Message properties in kombu's names: correlation_id, reply_to, priority, delivery_mode, ... */
  properties: Record<string, unknown>;
  /** The body as sent: bytes, or text when the transport already has it as a string. */
  body: Buffer | string;
  contentType: string | null;
  contentEncoding: string | null;
  deliveryInfo: { exchange: string; routingKey: string; deliveryTag: string };
  /** Delivered before and given back (a restore, a dead consumer, a broker redelivery). */
  redelivered: boolean;
  /**
   * How many times the broker delivered it before, where the broker counts (RabbitMQ quorum queues'
   * x-delivery-count); absent where it does not (Redis, classic queues: only `redelivered` is known).
   */
  deliveryCount?: number;
  /** Bytes the message took as received (the size cap applies to this). */
  size: number;
  /**
   * Times this message was RUNNING in a worker that died under it (a lost worker), and why the last one died; the
   * consumer holds it against --delivery-limit. Absent = 0 / unknown. Redis: headers the restore of a dead child's
   * messages bumps. AMQP: what the broker tells (quorum queues' x-delivery-count, else the redelivered flag).
   */
  lostWorkers?: number;
  lostReason?: string | null;
  /**
   * Where the broker counts every return of a message (AMQP): what the consumer reports to the pool while this
   * message runs (lost-runs.ts runKey), so that its return is charged only for a death it was running in.
   */
  runKey?: string;
}

/**
 * Lost-worker bookkeeping, in the headers of a message given back after the child running it died (Redis: the
 * restore writes them; AMQP: the copy a redelivery is replaced by; Python workers ignore headers they do not
 * know): how many times, and why the last time.
 */
export const LOST_HEADER = 'tbw_lost';
export const LOST_REASON_HEADER = 'tbw_lost_reason';
/** AMQP: how many times the message was replaced by a copy (each copy is another message to the pool's record). */
export const COPY_HEADER = 'tbw_copy';
/** AMQP: a copy of a message the broker gave back, charged or not, is still `redelivered` to its task. */
export const REDELIVERED_HEADER = 'tbw_redelivered';

/** The pool's answer on a returned message: charge it (the reason), or not (null); `copied`: a duplicate, drop it. */
export interface LostAnswer {
  reason: string | null;
  copied: boolean;
}

/** A message to publish, transport-neutral: what protocol.ts builds. */
export interface OutboundMessage {
  headers: Record<string, unknown>;
  /** correlation_id, reply_to, delivery_mode, priority (kombu's names). */
  properties: Record<string, unknown>;
  body: Buffer;
  contentType: string;
  contentEncoding: string;
  /** '' = the default exchange: `routingKey` is the queue. */
  exchange: string;
  routingKey: string;
  priority: number;
}

/**
 * One delivery the consumer holds until it settles it (ack, restore, requeue, republish or dead-letter), exactly
 * once. `undecodable`: the transport could not read the envelope; the consumer dead-letters it. `dead-lettered`:
 * the transport already dealt with it (Redis: an entry without a delivery tag); the consumer only counts it.
 */
export type Delivery =
  | {
      kind: 'message';
      /** Unique among this consumer's unsettled deliveries. */
      readonly tag: string;
      /** The queue it came from (without any priority suffix). */
      readonly queue: string;
      readonly message: InboundMessage;
      /** The transport knows this task id is revoked (Redis: the tbw.revoked set, checked in the fetch). */
      readonly revoked: boolean;
    }
  | {
      kind: 'undecodable';
      readonly tag: string;
      readonly queue: string;
      readonly reason: string;
      /** What could be read of it, so the dead-letter entry and a FAILURE name it. */
      readonly id: string | null;
      readonly task: string | null;
      /** The raw message as the transport received it, for the dead-letter entry. */
      readonly raw: string;
    }
  | { kind: 'dead-lettered'; readonly queue: string; readonly reason: string };

export type SettleableDelivery = Exclude<Delivery, { kind: 'dead-lettered' }>;

export interface ConsumeOptions {
  /** Queue names (priorities are the transport's business). */
  queues: readonly string[];
  /** Most unsettled deliveries at once (basic.qos prefetch_count; Redis: how many it fetches). */
  prefetch: number;
  /** Called in delivery order; the next delivery waits for the returned promise (the consumer accepts in order). */
  onDelivery(d: Delivery): void | Promise<void>;
  /**
   * The transport lost these unsettled deliveries (AMQP: their channel closed, so the broker gives them out again):
   * the consumer forgets the ones it has not started. One still running finishes; settling it is then a no-op.
   */
  onLost?(tags: readonly string[]): void;
}

export interface Subscription {
  /** Epoch ms of the last successful fetch / live consumer contact; null before the first. */
  readonly lastPollAt: number | null;
  /** Change the prefetch (Celery raises it by one for each ETA message it holds, and lowers it when it runs). */
  setPrefetch(n: number): void;
  readonly prefetch: number;
  /**
   * Optional: stop receiving for a while and resume (AMQP: basic.cancel, then consume again), where a lower
   * prefetch cannot stop deliveries by itself (per-consumer QoS does not count what earlier consumers hold).
   */
  pause?(paused: boolean): void;
  /**
   * Optional: resolves once nothing more is on its way to the consumer (a pause took effect, and every delivery
   * received so far was handed over). A rerun that must run alone waits for it where the broker would charge
   * whatever else the child holds when it dies (AMQP).
   */
  settled?(): Promise<void>;
  /**
   * Optional: consume from these queues from now on, in place (Celery's add_consumer / cancel_consumer). Without it
   * the node changes queues by a rolling restart of the children.
   */
  setQueues?(queues: readonly string[]): Promise<void>;
  /** Stop receiving (basic.cancel; Redis: end the fetch loop). Resolves once no delivery is being handed over. */
  cancel(): Promise<void>;
}

/** Why a message goes to the dead-letter place; the transport adds the raw message. */
export interface DeadLetter {
  reason: string;
  taskId: string | null;
  task: string | null;
  worker: string;
  at: number;
}

export interface Transport {
  /** `redis`, `amqp`, ...: shown by `inspect stats` (broker.transport). */
  readonly name: string;
  consume(o: ConsumeOptions): Promise<Subscription>;
  /** Done with these deliveries: they will never come back. */
  ack(ds: readonly SettleableDelivery[]): Promise<void>;
  /**
   * Give one back to the head of its queue (kombu's restore; AMQP: nack with requeue). False: no longer held.
   * `lost`: it is given back because its run cannot finish here (a hard time limit the task ignored, with Celery's
   * acks_on_failure_or_timeout off): charge it like a lost worker, with this reason.
   */
  restore(d: SettleableDelivery, o?: { lost?: string }): Promise<boolean>;
  /**
   * Optional: this held delivery waits (ETA, rate limit, behind a rerun) — `true` — or is about to run — `false`,
   * resolved before its task starts. A worker lost while it waits does not charge it. Transports whose broker counts
   * every redelivery (AMQP) leave it out.
   */
  setWaiting?(d: SettleableDelivery, waiting: boolean): Promise<void>;
  /**
   * True when the broker counts every return of a message, whatever its reason (AMQP: `redelivered`, a quorum
   * queue's `x-delivery-count`): the consumer then reports the ids it runs to the pool (lost-ask.ts), and a
   * redelivery is charged only when the pool saw it running in a child that died (TransportOptions.askLost).
   */
  readonly countsReturns?: boolean;
  /**
   * Optional, supervisor side: child `index`/`pid` of this node died. Give back what it held at once, charging the
   * messages it was running with `reason` (why it died; null: do not charge). Transports whose broker redelivers a
   * dead consumer's messages by itself (AMQP) leave it out.
   */
  workerLost?(
    child: { index: number; pid: number },
    reason: string | null,
  ): Promise<{ restored: number; charged: number }>;
  /** Put one back at the END of its queue (an ETA beyond what this child holds), and settle it. */
  requeue(d: SettleableDelivery): Promise<void>;
  /** Publish `out` and settle `d` in one step where the broker allows it (a retry replaces its message). */
  republish(d: SettleableDelivery, out: OutboundMessage): Promise<void>;
  /** Unrunnable: keep it for humans (Redis: the dead-letter list; AMQP: reject to the queue's DLX) and settle it. */
  deadLetter(d: SettleableDelivery, why: DeadLetter): Promise<void>;
  publish(out: OutboundMessage): Promise<void>;
  /**
   * Optional fast path for a plain success: store the result document and ack in ONE step when `store` lives on
   * this broker's connection (Redis: one batched script). Null when this store cannot share it.
   */
  settleWithResult?(
    store: ResultStore,
  ): ((d: SettleableDelivery, taskId: string, meta: string) => Promise<void>) | null;
  /** Remote control's broadcast channel (kombu's pidbox) for the node `nodename` (supervisor side). */
  control(nodename: string): ControlChannel;
  /** The Celery event channel (celeryev). */
  events(): EventChannel;
  close(): Promise<void>;
}

export interface ControlChannel {
  /** Receive every control message broadcast to the pidbox (the node filters by destination); an Error: unreadable. */
  listen(onMessage: (msg: InboundMessage | Error) => void): Promise<void>;
  /** Send a reply where the request's reply_to says (kombu: the reply.celery.pidbox exchange). */
  reply(to: { exchange: string; routingKey: string }, body: unknown, headers: Record<string, unknown>): Promise<void>;
  /** Make task ids known as revoked to this broker's consumers (Redis: the tbw.revoked set every fetch checks). */
  revoke(ids: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface EventChannel {
  /** Publish one Celery event (`routingKey` = its type with dots, e.g. task.succeeded). Rejects on failure. */
  publish(routingKey: string, body: Record<string, unknown>, headers: Record<string, unknown>): Promise<void>;
}

/**
 * The broker (or result store) refused our credentials (Redis WRONGPASS/NOAUTH, AMQP ACCESS_REFUSED): not worth a
 * retry. The child reports it as a boot error (exit 3); the message names the URL with its password masked.
 */
export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
}

export interface TransportOptions {
  logger: Logger;
  /** What this connection is for, in its log lines: broker, control, client. */
  role: string;
  cfg: CeleryConfig;
  /** Node name (celery@host) and this child's slot and pid: per-child bookkeeping of held messages. */
  nodename: string;
  index: number;
  pid: number;
  /** How long opening may wait for the broker (then it fails); null: never wait, commands queue until connected. */
  connectTimeoutMs: number | null;
  now(): number;
  /** Is this pid alive (a dead child's held messages go back at once)? */
  isAlive(pid: number): boolean;
  /** The pool's supervisor (it restores a dead child's messages itself); default process.ppid. */
  ppid?: number;
  /**
   * Clients only: told of every failed connection attempt (the client names the last one in its one error line);
   * a client that never connected gives up after a few attempts instead of reconnecting forever.
   */
  onConnectionError?: (err: Error, attempts: number) => void;
  /**
   * A consuming child's question to its pool (lost-ask.ts): was this task (its runKey: the id and the lost-worker
   * count its message carries) running in a child that died? The reason
   * it died (charge it once), null (do not), undefined (no answer: the broker's count stands).
   */
  askLost?: (key: string) => Promise<LostAnswer | undefined>;
  /** A copy of the returned message `key` is published (confirmed); the original is acked next. */
  copied?: (key: string) => void;
}
