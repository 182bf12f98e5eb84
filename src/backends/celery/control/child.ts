// The child's half of remote control: what one child knows (its running, prefetched and ETA messages, its
// registry) in Celery's request-info format, and the commands it applies (terminate, events on/off). The
// supervisor's node asks every child over IPC (`inspect {what, args}`) and merges the answers.
import type { Registry } from '../../../tasks/registry.js';
import type { TaskEvents } from '../events.js';
import type { TaskEventType } from '../consumer.js';
import type { Execution, Held } from '../execute.js';
import type { TaskMessage } from '../protocol.js';
import { pyRepr } from '../../../tasks/pyfmt.js';
import { pyIsoformat } from '../pytime.js';
import type { ChildCounters } from './counters.js';

/** What the consumer shows of its work (Consumer.snapshot()). */
export interface WorkView {
  running: { held: Held; started: number }[];
  ready: Held[];
  eta: Held[];
}

export interface ChildControlDeps {
  view(): WorkView;
  /** Remote revoke: held messages with these ids end REVOKED; with a signal, running ones are terminated. */
  revoke(ids: string[], signum: number | null): { terminated: string[]; revoked: string[] };
  /** add_consumer / cancel_consumer in place; false when the transport cannot. */
  setQueues(queues: string[]): Promise<boolean>;
  registry: Registry;
  events: TaskEvents | null;
  hostname: string;
  pid: number;
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
    eta: m.etaMs === null ? null : pyIsoformat(m.etaMs, m.inbound.headers.eta),
    expires: m.expiresMs === null ? null : pyIsoformat(m.expiresMs, m.inbound.headers.expires),
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

/** celery inspect query_task: this child's requests with these ids, as {id: [state, info]} (Celery 5.7's states). */
function queryTask(d: ChildControlDeps, ids: string[]): Record<string, unknown> {
  const want = new Set(ids);
  const v = d.view();
  const out: Record<string, unknown> = {};
  for (const r of v.running)
    if (want.has(r.held.msg.id)) out[r.held.msg.id] = ['active', requestInfo(r.held, d.hostname, d.pid, r.started)];
  for (const h of v.ready)
    if (want.has(h.msg.id)) out[h.msg.id] = ['reserved', requestInfo(h, d.hostname, d.pid, null)];
  // Celery 5.7 names ETA-held requests 'scheduled' (5.5 said 'reserved').
  for (const h of v.eta) if (want.has(h.msg.id)) out[h.msg.id] = ['scheduled', requestInfo(h, d.hostname, d.pid, null)];
  return out;
}

/** Answer one `inspect` request from the supervisor. Unknown `what` → {error}, like an unknown control command. */
export function childControl(d: ChildControlDeps, what: string, args: Record<string, unknown>): unknown {
  switch (what) {
    case 'active':
      return d.view().running.map((r) => requestInfo(r.held, d.hostname, d.pid, r.started));
    case 'reserved':
      return d.view().ready.map((h) => requestInfo(h, d.hostname, d.pid, null));
    case 'scheduled':
      return d.view().eta.map((h) => ({
        eta: h.msg.etaMs === null ? null : pyIsoformat(h.msg.etaMs, h.msg.inbound.headers.eta),
        priority: h.msg.priority,
        request: requestInfo(h, d.hostname, d.pid, null),
      }));
    case 'query_task':
      return queryTask(d, idsOf(args.ids));
    case 'registered':
      return d.registry.names().sort();
    case 'revoke': {
      const sig = typeof args.signum === 'number' ? args.signum : null;
      const r = d.revoke(idsOf(args.ids), sig);
      for (const uuid of r.terminated)
        d.events?.send('task-revoked', { uuid, terminated: true, signum: sig, expired: false });
      return r;
    }
    case 'queues':
      return Array.isArray(args.queues) ? d.setQueues(args.queues.filter((q) => typeof q === 'string')) : false;
    case 'enable_events':
    case 'disable_events':
      if (d.events) d.events.enabled = what === 'enable_events';
      return d.events?.enabled ?? false;
    default:
      return { error: `unknown inspect request ${what}` };
  }
}

/** Consumer lifecycle → Celery task-* events (field sets as celery/worker/request.py and strategy.py send them). */
export function taskEventSink(
  events: TaskEvents,
  counters: ChildCounters,
): (type: TaskEventType, held: Held, ex?: Execution) => void {
  return (type, held, ex) => {
    if (type === 'started') counters.started(held.msg.task);
    else if (type !== 'received') counters.changed();
    if (!events.enabled) return;
    const uuid = held.msg.id;
    const runtime = ex ? Math.round((performance.now() - ex.startedHr) * 1000) / 1e6 : 0;
    const err = ex?.error;
    const traceback = err instanceof Error && err.stack ? err.stack : '';
    switch (type) {
      case 'received':
        return events.send('task-received', receivedFields(held.msg));
      case 'started':
        return events.send('task-started', { uuid });
      case 'succeeded':
        return events.send('task-succeeded', { uuid, result: pyRepr(ex?.value), runtime });
      case 'failed':
        if ((err as Error | undefined)?.name === 'TaskRevokedError') return; // reported as task-revoked on terminate
        return events.send('task-failed', { uuid, exception: excRepr(err), traceback });
      case 'retried':
        return events.send('task-retried', { uuid, exception: excRepr(err), traceback });
      case 'revoked':
        return events.send('task-revoked', {
          uuid,
          terminated: false,
          signum: null,
          expired: held.msg.expiresMs !== null && held.msg.expiresMs <= Date.now(),
        });
      default: {
        const never: never = type;
        return never;
      }
    }
  };
}
