// The RabbitMQ objects Celery's workers declare, declared the same way so Python producers and this worker agree:
// per task queue a durable exchange of the queue's name (direct by default) bound with routing key = queue name,
// the queue durable with `x-queue-type: quorum` or `x-max-priority` when configured; a queue or exchange that
// already exists with other arguments is used as it is (passive declare) instead of failing the worker. With
// quorum queues, the native delayed delivery topology of kombu 5.5 (celery_delayed_0..27, celery_delayed_delivery).
import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import type { CeleryConfig } from '../../../config/types.js';

export type ExchangeType = 'direct' | 'topic' | 'fanout';

export interface QueueSpec {
  name: string;
  exchange: string;
  exchangeType: ExchangeType;
  routingKey: string;
  arguments: Record<string, unknown>;
}

export interface Declared {
  queue: string;
  /** Known to be a quorum queue (declared so, or the broker said so); null: found as it was, type unknown. */
  quorum: boolean | null;
  /** Found existing with other arguments and used as it is. */
  passive: boolean;
  /** The exchange may route by pattern (declared topic/fanout, or found as another type than our direct). */
  patternExchange: boolean;
}

/** kombu.transport.native_delayed_delivery: 28 levels of 2^level seconds. */
export const DELAYED_LEVELS = 28;
export const DELAYED_DELIVERY_EXCHANGE = 'celery_delayed_delivery';
export const delayedLevel = (level: number): string => `celery_delayed_${level}`;

/** Routing key of a delayed message (kombu calculate_routing_key): 28 binary digits of the countdown, dots. */
export function delayedRoutingKey(countdownS: number, routingKey: string): string {
  if (countdownS < 1) throw new Error('countdown must be a positive number');
  return `${[...Math.trunc(countdownS).toString(2).padStart(DELAYED_LEVELS, '0')].join('.')}.${routingKey}`;
}

/** How Celery declares the queue `name` (task_default_queue_type, task_queue_max_priority, exchange type). */
export function queueSpec(name: string, cfg: Pick<CeleryConfig, 'queueType' | 'queueMaxPriority' | 'exchangeType'>) {
  const args: Record<string, unknown> = {};
  if (cfg.queueType === 'quorum') args['x-queue-type'] = 'quorum';
  else if (cfg.queueMaxPriority !== null) args['x-max-priority'] = cfg.queueMaxPriority;
  const spec: QueueSpec = {
    name,
    exchange: name,
    exchangeType: cfg.exchangeType,
    routingKey: name,
    arguments: args,
  };
  return spec;
}

/** One step of a declaration plan (pure, so tests can compare it with kombu's). */
export type TopologyStep =
  | { op: 'exchange'; name: string; type: ExchangeType }
  | { op: 'queue'; name: string; arguments: Record<string, unknown> }
  | { op: 'bindQueue'; queue: string; source: string; pattern: string }
  | { op: 'bindExchange'; destination: string; source: string; pattern: string };

/** declare_native_delayed_delivery_exchanges_and_queues(connection, queueType), step by step. */
export function delayedDeliveryPlan(queueType: 'classic' | 'quorum'): TopologyStep[] {
  const steps: TopologyStep[] = [];
  let rk = '1.#';
  for (let level = DELAYED_LEVELS - 1; level >= 0; level--) {
    const name = delayedLevel(level);
    const args: Record<string, unknown> = {
      'x-queue-type': queueType,
      'x-overflow': 'reject-publish',
      'x-message-ttl': 2 ** level * 1000,
      'x-dead-letter-exchange': level > 0 ? delayedLevel(level - 1) : DELAYED_DELIVERY_EXCHANGE,
    };
    if (queueType === 'quorum') args['x-dead-letter-strategy'] = 'at-least-once';
    steps.push({ op: 'exchange', name, type: 'topic' });
    steps.push({ op: 'queue', name, arguments: args });
    steps.push({ op: 'bindQueue', queue: name, source: name, pattern: rk });
    rk = `*.${rk}`;
  }
  rk = '0.#';
  for (let level = DELAYED_LEVELS - 1; level >= 1; level--) {
    steps.push({ op: 'bindExchange', destination: delayedLevel(level - 1), source: delayedLevel(level), pattern: rk });
    rk = `*.${rk}`;
  }
  steps.push({ op: 'exchange', name: DELAYED_DELIVERY_EXCHANGE, type: 'topic' });
  steps.push({ op: 'bindExchange', destination: DELAYED_DELIVERY_EXCHANGE, source: delayedLevel(0), pattern: rk });
  return steps;
}

/** bind_queue_to_native_delayed_delivery_exchange for one queue (none for a direct exchange, as in kombu). */
export function delayedBindingPlan(spec: QueueSpec): TopologyStep[] {
  const pattern = spec.routingKey.startsWith('#') ? spec.routingKey : `#.${spec.routingKey}`;
  return [
    { op: 'bindExchange', destination: spec.exchange, source: DELAYED_DELIVERY_EXCHANGE, pattern },
    { op: 'bindQueue', queue: spec.name, source: spec.exchange, pattern },
  ];
}

const PRECONDITION_FAILED = 406;
const isPrecondition = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === PRECONDITION_FAILED;

/**
 * A channel for declarations: a refused declare closes it (AMQP), so the next step opens a fresh one.
 * Closed with the connection's generation.
 */
export class Declarer {
  #ch: Channel | null = null;

  constructor(
    private readonly conn: ChannelModel,
    private readonly logger: Logger,
  ) {}

  async channel(): Promise<Channel> {
    if (this.#ch) return this.#ch;
    const ch = await this.conn.createChannel();
    ch.on('error', () => undefined); // the failing call rejects with it
    ch.on('close', () => {
      if (this.#ch === ch) this.#ch = null;
    });
    return (this.#ch = ch);
  }

  /** Run a declaration; a 406 (exists with other attributes) is returned, not thrown. */
  async #try(step: (ch: Channel) => Promise<unknown>): Promise<Error | null> {
    const ch = await this.channel();
    try {
      await step(ch);
      return null;
    } catch (e) {
      if (this.#ch === ch) this.#ch = null;
      if (isPrecondition(e)) return e as Error;
      throw e;
    }
  }

  async step(s: TopologyStep): Promise<Error | null> {
    switch (s.op) {
      case 'exchange':
        return this.#try((ch) => ch.assertExchange(s.name, s.type, { durable: true, autoDelete: false }));
      case 'queue':
        return this.#try((ch) => ch.assertQueue(s.name, { durable: true, arguments: s.arguments }));
      case 'bindQueue':
        return this.#try((ch) => ch.bindQueue(s.queue, s.source, s.pattern));
      case 'bindExchange':
        return this.#try((ch) => ch.bindExchange(s.destination, s.source, s.pattern));
    }
  }

  /**
   * A queue of our own records (the dead-letter record queue): durable, with `args`; when it exists with other
   * arguments (another cap), it is used as it is.
   */
  async recordQueue(name: string, args: Record<string, unknown>): Promise<void> {
    const err = await this.step({ op: 'queue', name, arguments: args });
    if (err) {
      this.logger.warn({ queue: name, err: err.message }, 'queue exists with other arguments; using it as declared');
      await (await this.channel()).checkQueue(name);
    }
  }

  /** Declare a task queue as Celery does, or use it as it exists; throws when it does not exist at all. */
  async taskQueue(spec: QueueSpec): Promise<Declared> {
    let patternExchange = spec.exchangeType !== 'direct';
    const exErr = await this.step({ op: 'exchange', name: spec.exchange, type: spec.exchangeType });
    if (exErr) {
      this.logger.warn(
        { exchange: spec.exchange, err: exErr.message },
        'exchange exists with other attributes; using it as declared',
      );
      await (await this.channel()).checkExchange(spec.exchange);
      // Another type than the direct one we would declare: it may route delayed (pattern) messages.
      if (spec.exchangeType === 'direct') patternExchange = true;
    }
    let quorum: boolean | null = spec.arguments['x-queue-type'] === 'quorum';
    let passive = false;
    const qErr = await this.step({ op: 'queue', name: spec.name, arguments: spec.arguments });
    if (qErr) {
      passive = true;
      // RabbitMQ names the queue's current type in its refusal ("current is the value 'quorum'").
      quorum = /x-queue-type'.*current is the value 'quorum'/.test(qErr.message)
        ? true
        : /x-queue-type'.*current is the value 'classic'/.test(qErr.message)
          ? false
          : null;
      this.logger.warn(
        { queue: spec.name, err: qErr.message },
        'queue exists with other arguments; consuming it as declared',
      );
      await (await this.channel()).checkQueue(spec.name);
    }
    const bindErr = await this.step({
      op: 'bindQueue',
      queue: spec.name,
      source: spec.exchange,
      pattern: spec.routingKey,
    });
    if (bindErr) throw bindErr;
    return { queue: spec.name, quorum, passive, patternExchange };
  }

  /** Run a plan; a step refused with 406 is logged and skipped (the object exists as someone else declared it). */
  async plan(steps: readonly TopologyStep[]): Promise<void> {
    for (const s of steps) {
      const err = await this.step(s);
      if (err) this.logger.debug({ step: s, err: err.message }, 'declaration refused; using the existing object');
    }
  }

  async close(): Promise<void> {
    const ch = this.#ch;
    this.#ch = null;
    await ch?.close().catch(() => undefined);
  }
}
