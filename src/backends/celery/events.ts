// Celery events: worker-* from the supervisor's node (always, as a Python worker sends its `worker` group), task-*
// when -E or a remote enable_events says so. Children do not publish: they pass task events to the node
// (`TaskEventRelay` over IPC), which stamps them with its pid and its one logical clock, like a prefork worker's
// main process does, and publishes them on the transport's event channel (Redis: one PUBLISH on
// `/{db}.celeryev/<type with dots>`), which `celery events`, Flower and app.events.Receiver read.
import { utcoffsetHours } from './control/wire.js';
import { epochSeconds } from './pytime.js';
import type { EventChannel } from './transport.js';

export const SW_IDENT = 'task-backend-worker';
export const SW_VER = '0.1.0';
export const SW_SYS = process.platform === 'linux' ? 'Linux' : process.platform;
/** The IPC topic children pass task events to the node on: {type, fields, timestamp}. */
export const TOPIC_EVENT = 'celery.event';

/** Where a child's task events go (the node, through the relay); `enabled` is the task group's switch. */
export interface TaskEvents {
  enabled: boolean;
  send(type: string, fields: Record<string, unknown>): void;
}

/** A child's task events, handed to the node with the time they happened (epoch seconds, microseconds). */
export class TaskEventRelay implements TaskEvents {
  constructor(
    public enabled: boolean,
    private readonly toPool: (topic: string, data: unknown) => void,
  ) {}

  send(type: string, fields: Record<string, unknown>): void {
    if (this.enabled) this.toPool(TOPIC_EVENT, { type, fields, timestamp: epochSeconds() });
  }
}

/** One event a child relayed, checked on receipt (IPC data is outside data). */
export function relayedEvent(
  data: unknown,
): { type: string; fields: Record<string, unknown>; timestamp: number } | null {
  const d = data as { type?: unknown; fields?: unknown; timestamp?: unknown } | null;
  if (d === null || typeof d !== 'object' || typeof d.type !== 'string' || !d.type.startsWith('task-')) return null;
  if (d.fields === null || typeof d.fields !== 'object' || typeof d.timestamp !== 'number') return null;
  return { type: d.type, fields: d.fields as Record<string, unknown>, timestamp: d.timestamp };
}

/**
 * Fields Python writes as floats: JSON.stringify writes 2.0 as 2, which a Python receiver reads as an int.
 * (`utcoffset` is a float from Celery 5.7 on, an int before.)
 */
const FLOAT_FIELDS = ['utcoffset', 'freq', 'timestamp', 'runtime'];

/** An event body as JSON text, its float fields written as floats (`"freq": 2.0`). */
export function eventJson(body: Record<string, unknown>): string {
  let s = JSON.stringify(body);
  for (const f of FLOAT_FIELDS) s = s.replace(new RegExp(`"${f}":(-?\\d+)([,}])`), `"${f}":$1.0$2`);
  return s;
}

export interface EventPublisherOptions {
  channel: EventChannel;
  hostname: string;
  /** Whether task-* events go out (-E, enable_events); worker-* events always do. */
  taskEvents: boolean;
  pid?: number;
  /** The node's logical clock: each event moves it on (one clock for the node's events and replies). */
  tick?: () => number;
  now?: () => number;
  /** Told once when a publish fails (events are best effort: a lost event never fails a task). */
  onError?: (err: Error) => void;
}

export class EventPublisher {
  /** The task group's switch (enable_events / disable_events). */
  taskEvents: boolean;
  #clock = 0;
  #warned = false;

  constructor(private readonly o: EventPublisherOptions) {
    this.taskEvents = o.taskEvents;
  }

  /** The event body as celery.events.Event + EventDispatcher.publish build it. */
  build(type: string, fields: Record<string, unknown>, timestamp?: number): Record<string, unknown> {
    const ts = timestamp ?? (this.o.now ? this.o.now() / 1000 : epochSeconds());
    return {
      hostname: this.o.hostname,
      utcoffset: utcoffsetHours(new Date(ts * 1000)),
      pid: this.o.pid ?? process.pid,
      clock: this.o.tick ? this.o.tick() : ++this.#clock,
      ...fields,
      timestamp: ts,
      type,
    };
  }

  /** Publish (a task-* event only while task events are on); never throws. */
  async send(type: string, fields: Record<string, unknown>, timestamp?: number): Promise<void> {
    if (type.startsWith('task-') && !this.taskEvents) return;
    try {
      const body = this.build(type, fields, timestamp);
      await this.o.channel.publish(type.replace(/-/g, '.'), body, { hostname: this.o.hostname });
      this.#warned = false;
    } catch (e) {
      if (!this.#warned) this.o.onError?.(e as Error);
      this.#warned = true;
    }
  }
}
