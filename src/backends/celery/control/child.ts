// The child's half of remote control: what one child knows (its running, prefetched and ETA messages, its
// registry) in Celery's request-info format, and the commands it applies (terminate, events on/off). The
// supervisor's node asks every child over IPC (`inspect {what, args}`) and merges the answers.
import type { Registry } from '../../../tasks/registry.js';
import type { EventPublisher } from '../events.js';
import type { TaskEventType } from '../consumer.js';
import type { Execution, Held } from '../execute.js';
import type { TaskMessage } from '../protocol.js';
import { pyRepr } from '../../../tasks/pyfmt.js';

/** What the consumer shows of its work (Consumer.snapshot()). */
export interface WorkView {
  running: { held: Held; started: number }[];
  ready: Held[];
  eta: Held[];
}

export interface ChildControlDeps {
  view(): WorkView;
  /** Abort running tasks with these ids; returns the ids found. */
  terminate(ids: string[]): string[];
  registry: Registry;
  events: EventPublisher | null;
  hostname: string;
  pid: number;
  /** Tasks started per name (stats `total`). */
  totals: Map<string, number>;
}

/** Celery's Request.info(): what `inspect active/reserved` list per task. */
export function requestInfo(
  held: Held,
  hostname: string,
  pid: number,
  started: number | null,
): Record<string, unknown> {
  const m = held.msg;
  return {
    id: m.id,
    name: m.task,
    args: m.args,
    kwargs: m.kwargs,
    type: m.task,
    hostname,
    time_start: started === null ? null : started / 1000,
    acknowledged: false,
    delivery_info: {
      exchange: m.exchange,
      routing_key: m.routingKey,
      priority: m.priority,
      redelivered: m.redelivered,
    },
    worker_pid: started === null ? null : pid,
  };
}

/** Fields of a task-received event (celery/worker/request.py send_event('task-received')). */
export function receivedFields(m: TaskMessage): Record<string, unknown> {
  return {
    uuid: m.id,
    name: m.task,
    args: pyRepr(m.args),
    kwargs: pyRepr(m.kwargs),
    root_id: m.rootId,
    parent_id: m.parentId,
    retries: m.retries,
    eta: m.etaMs === null ? null : new Date(m.etaMs).toISOString(),
    expires: m.expiresMs === null ? null : new Date(m.expiresMs).toISOString(),
  };
}

/** Python's repr of an exception as events carry it: `ValueError('bad')`. */
export function excRepr(err: unknown): string {
  const name = err instanceof Error ? err.name : 'Exception';
  const msg = err instanceof Error ? err.message : String(err);
  return `${name}(${pyRepr(msg)})`;
}

const idsOf = (v: unknown): string[] =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/** Answer one `inspect` request from the supervisor. Unknown `what` → {error}, like an unknown control command. */
export function childControl(d: ChildControlDeps, what: string, args: Record<string, unknown>): unknown {
  switch (what) {
    case 'active':
      return d.view().running.map((r) => requestInfo(r.held, d.hostname, d.pid, r.started));
    case 'reserved':
      return d.view().ready.map((h) => requestInfo(h, d.hostname, d.pid, null));
    case 'scheduled':
      return d.view().eta.map((h) => ({
        eta: h.msg.etaMs === null ? null : new Date(h.msg.etaMs).toISOString(),
        priority: h.msg.priority,
        request: requestInfo(h, d.hostname, d.pid, null),
      }));
    case 'totals':
      return Object.fromEntries(d.totals);
    case 'registered':
      return d.registry.names().sort();
    case 'terminate': {
      const hit = d.terminate(idsOf(args.ids));
      for (const uuid of hit)
        void d.events?.send('task-revoked', {
          uuid,
          terminated: true,
          signum: args.signal ?? 'SIGTERM',
          expired: false,
        });
      return hit;
    }
    case 'enable_events':
    case 'disable_events':
      if (d.events) d.events.enabled = what === 'enable_events';
      return d.events?.enabled ?? false;
    default:
      return { error: `unknown inspect request ${what}` };
  }
}

/** Consumer lifecycle → Celery task-* events (field sets as celery/worker/request.py and app/trace.py send them). */
export function taskEventSink(
  events: EventPublisher,
  pid: number,
  totals: Map<string, number>,
): (type: TaskEventType, held: Held, ex?: Execution) => void {
  return (type, held, ex) => {
    if (type === 'started') totals.set(held.msg.task, (totals.get(held.msg.task) ?? 0) + 1);
    if (!events.enabled) return;
    const uuid = held.msg.id;
    const runtime = ex ? (Date.now() - ex.started) / 1000 : 0;
    const err = ex?.error;
    const traceback = err instanceof Error && err.stack ? err.stack : '';
    switch (type) {
      case 'received':
        void events.send('task-received', receivedFields(held.msg));
        return;
      case 'started':
        void events.send('task-started', { uuid, pid });
        return;
      case 'succeeded':
        void events.send('task-succeeded', { uuid, result: pyRepr(ex?.value), runtime });
        return;
      case 'failed':
        if ((err as Error | undefined)?.name === 'TaskRevokedError') return; // reported as task-revoked on terminate
        void events.send('task-failed', { uuid, exception: excRepr(err), traceback });
        return;
      case 'retried':
        void events.send('task-retried', { uuid, exception: excRepr(err), traceback });
        return;
      case 'revoked':
        void events.send('task-revoked', {
          uuid,
          terminated: false,
          signum: null,
          expired: held.msg.expiresMs !== null && held.msg.expiresMs <= Date.now(),
        });
        return;
      default: {
        const never: never = type;
        return never;
      }
    }
  };
}
