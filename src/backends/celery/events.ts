// Celery events (-E): worker-* from the supervisor's node, task-* from the child that runs the task, published on
// the transport's event channel (Redis: one PUBLISH on `/{db}.celeryev/<type with dots>`), which `celery events`,
// Flower and app.events.Receiver read.
import { utcoffsetHours } from './control/wire.js';
import type { EventChannel } from './transport.js';

export const SW_IDENT = 'task-backend-worker';
export const SW_VER = '0.1.0';
export const SW_SYS = process.platform === 'linux' ? 'Linux' : process.platform;

export interface EventPublisherOptions {
  channel: EventChannel;
  hostname: string;
  enabled: boolean;
  pid?: number;
  now?: () => number;
  /** Told once when a publish fails (events are best effort: a lost event never fails a task). */
  onError?: (err: Error) => void;
}

export class EventPublisher {
  enabled: boolean;
  #clock = 0;
  #warned = false;

  constructor(private readonly o: EventPublisherOptions) {
    this.enabled = o.enabled;
  }

  /** The event body as celery.events.Event + EventDispatcher.publish build it. */
  build(type: string, fields: Record<string, unknown>): Record<string, unknown> {
    const now = this.o.now?.() ?? Date.now();
    return {
      hostname: this.o.hostname,
      utcoffset: utcoffsetHours(new Date(now)),
      pid: this.o.pid ?? process.pid,
      clock: ++this.#clock,
      ...fields,
      timestamp: now / 1000,
      type,
    };
  }

  /** Publish when enabled (or `force` for worker-offline after a disable); never throws. */
  async send(type: string, fields: Record<string, unknown>, force = false): Promise<void> {
    if (!this.enabled && !force) return;
    try {
      await this.o.channel.publish(type.replace(/-/g, '.'), this.build(type, fields), { hostname: this.o.hostname });
      this.#warned = false;
    } catch (e) {
      if (!this.#warned) this.o.onError?.(e as Error);
      this.#warned = true;
    }
  }
}
