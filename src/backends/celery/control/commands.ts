// Celery's remote control commands (celery/worker/control.py) for the supervisor's node: the replies a Python
// prefork worker gives, built from the pool's snapshot and the children's answers. No broker here: the node
// (control/node.ts) passes everything in through NodeEnv, so tests can drive it without one. A command this pool
// cannot honour answers an error, the way Celery does; never a success that changed nothing.
import type { WorkerConfig } from '../../../config/types.js';
import type { PoolSignal } from '../../../supervisor/api.js';
import { queuesOf } from '../../registry.js';
import type { EventPublisher } from '../events.js';
import { SW_IDENT } from '../events.js';
import { parseRate, PyError } from '../limits.js';
import type { NodeLimits } from '../node-limits.js';
import type { NodeCounters } from './counters.js';
import { conf, flatLists, queueInfo, report, stats } from './info.js';
import { queryTask, revoke, terminate } from './revoke.js';

/** The pool as the node sees it (a subset of the supervisor's PoolSnapshot). */
export interface PoolView {
  target: number;
  /** The most children the pool may grow to. */
  ceiling: number;
  /** Autoscale bounds; null or absent when the pool runs without --autoscale. */
  autoscale?: { max: number; min: number } | null;
  children: {
    index: number;
    gen: number;
    pid: number | null;
    state: string;
    active: number | null;
    processed: number | null;
  }[];
}

export interface ChildAnswer {
  index: number;
  pid: number | null;
  data: unknown;
}

export interface NodeEnv {
  nodename: string;
  /** The broker transport's name (redis, amqp), as `inspect stats` and `report` show it. */
  transport: string;
  /** The config children forked now get (add_consumer/cancel_consumer change its queues). */
  config(): WorkerConfig;
  startedAt: number;
  now(): number;
  clock(): number;
  pool(): PoolView;
  signal(sig: PoolSignal): void;
  /** New autoscale bounds (the pool ignores it without --autoscale; commands check first). */
  setAutoscale(max: number | null, min: number | null): void;
  /** Per-task rate and time limits for the whole node. */
  limits: Pick<NodeLimits, 'set' | 'table'>;
  /** Ask every ready child; answers that do not come within the node's timeout are left out. */
  ask(what: string, args?: Record<string, unknown>): Promise<ChildAnswer[]>;
  /** Remember revoked ids (the node's LimitedSet, which every child learns) and tell the broker's fetch. */
  revoke(ids: string[]): Promise<void>;
  /** The revoked ids the node remembers now (inspect revoked). */
  revokedIds(): string[];
  events: EventPublisher | null;
  /** Task events on or off for the node, its children and children forked later. */
  setTaskEvents(on: boolean): Promise<void>;
  /** Send a worker-heartbeat event now. */
  heartbeat(): Promise<void>;
  /** Per-node task counters (they survive child replacement). */
  counters: Pick<NodeCounters, 'totals' | 'writes'>;
  /** Change the queue list of every child in place (and of children forked later). */
  setQueues(queues: string[]): Promise<void>;
}

/** undefined = no reply at all (a peer's hello from ourselves); null is a reply (`heartbeat` answers None). */
export type Reply = Record<string, unknown> | unknown[] | null | undefined;

const ok = (v: unknown): Record<string, unknown> => ({ ok: v });
const nok = (v: unknown): Record<string, unknown> => ({ error: v });
const num = (v: unknown, d: number): number => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? Math.trunc(n) : d;
};

/** A URL with its secrets replaced (the same redaction as every other output of the program). */
async function taskNames(env: NodeEnv): Promise<string[]> {
  const names = new Set(flatLists(await env.ask('registered')).filter((n): n is string => typeof n === 'string'));
  return [...names].sort();
}

/** Python's str() of a task attribute: a time limit is a float (`10.0`), a rate limit its string. */
const pyAttr = (v: number | string): string =>
  typeof v === 'number' && Number.isInteger(v) ? v.toFixed(1) : String(v);

/**
 * inspect registered [attr ...]: names, each with the attributes asked for (Celery's default: exchange,
 * routing_key, rate_limit) that are set, as `name [rate_limit=2/m]`.
 */
async function registered(env: NodeEnv, args: Record<string, unknown>): Promise<string[]> {
  const asked = Array.isArray(args.taskinfoitems) ? args.taskinfoitems.filter((x) => typeof x === 'string') : [];
  const items = asked.length > 0 ? asked : ['exchange', 'routing_key', 'rate_limit'];
  const table = env.limits.table();
  return (await taskNames(env)).map((name) => {
    const l = table[name];
    const attrs: Record<string, number | string | null | undefined> = {
      rate_limit: l?.rateLimit,
      time_limit: l?.time?.hardS,
      soft_time_limit: l?.time?.softS,
    };
    const info = items.flatMap((k) => {
      const v = attrs[k];
      return v === null || v === undefined ? [] : [`${k}=${pyAttr(v)}`];
    });
    return info.length > 0 ? `${name} [${info.join(' ')}]` : name;
  });
}

/** celery control rate_limit: Celery's token bucket per task name for the whole node (node-limits.ts). */
async function rateLimit(env: NodeEnv, args: Record<string, unknown>): Promise<Reply> {
  const name = typeof args.task_name === 'string' ? args.task_name : '';
  const limit = args.rate_limit;
  try {
    parseRate(limit);
  } catch (e) {
    if (!(e instanceof PyError)) throw e;
    // Celery checks for ValueError only; a KeyError (unknown unit) escapes to kombu's pidbox, which replies repr().
    return e.pyType === 'ValueError' ? nok(`Invalid rate limit string: ${e.repr}`) : nok(e.repr);
  }
  if (!(await taskNames(env)).includes(name)) return nok('unknown task');
  const set = limit !== null && limit !== undefined && limit !== '' && limit !== false;
  env.limits.set(name, { rateLimit: set ? String(limit) : null });
  return ok(set ? 'new rate limit set successfully' : 'rate limit disabled successfully');
}

/** celery control time_limit: soft and hard limits (seconds; absent = none) for later runs of that task name. */
async function timeLimit(env: NodeEnv, args: Record<string, unknown>): Promise<Reply> {
  const name = typeof args.task_name === 'string' ? args.task_name : '';
  if (!(await taskNames(env)).includes(name)) return nok('unknown task');
  const secs = (v: unknown): number | null => {
    const n = typeof v === 'string' ? Number(v) : v;
    return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : null;
  };
  env.limits.set(name, { time: { softS: secs(args.soft), hardS: secs(args.hard) } });
  return ok('time limits set successfully');
}

/** celery control autoscale: new bounds for an autoscaled pool; Celery's own error for a fixed one. */
function autoscale(env: NodeEnv, args: Record<string, unknown>): Reply {
  if (!env.pool().autoscale) return nok(new PyError('ValueError', 'Autoscale not enabled').repr);
  const bound = (v: unknown): number | null => (v === null || v === undefined ? null : Math.max(1, num(v, 1)));
  env.setAutoscale(bound(args.max), bound(args.min));
  const now = env.pool().autoscale;
  return ok(`autoscale now max=${now?.max} min=${now?.min}`);
}

/** pool_grow n: refused (nothing grows) when it would pass the pool's ceiling (twice its configured size). */
function poolGrow(env: NodeEnv, n: number): Reply {
  const { target, ceiling } = env.pool();
  if (target + n > ceiling) {
    return nok(`pool_grow ${n}: the pool has ${target} children and may grow to at most ${ceiling}`);
  }
  resize(env, n);
  return ok('pool will grow');
}

function resize(env: NodeEnv, by: number): void {
  for (let i = 0; i < Math.abs(by); i++) env.signal(by > 0 ? 'TTIN' : 'TTOU');
}

/** add_consumer / cancel_consumer: every child's queue list, changed in place (Celery's replies). */
async function consumers(env: NodeEnv, method: string, args: Record<string, unknown>): Promise<Reply> {
  const q = typeof args.queue === 'string' ? args.queue : '';
  if (q === '') return nok('no queue given');
  const qs = queuesOf(env.config(), 'celery');
  if (method === 'add_consumer') {
    if (!qs.includes(q)) await env.setQueues([...qs, q]);
    return ok(`add consumer ${q}`);
  }
  // Celery would leave the worker consuming nothing; a pool with no queue cannot do any work, so it refuses.
  if (qs.length === 1 && qs[0] === q) return nok(`cannot cancel the last queue ${q}`);
  if (qs.includes(q)) await env.setQueues(qs.filter((x) => x !== q));
  return ok(`no longer consuming from ${q}`);
}

/** enable_events / disable_events switch the `task` group only; worker events always go out. */
async function taskEvents(env: NodeEnv, on: boolean): Promise<Reply> {
  const was = env.events?.taskEvents ?? false;
  if (on === was) return ok(`task events already ${on ? 'enabled' : 'disabled'}`);
  await env.setTaskEvents(on);
  return ok(`task events ${on ? 'enabled' : 'disabled'}`);
}

/** Celery's old names for inspect commands (Panel aliases), still accepted by a Python worker. */
const ALIASES: Record<string, string> = {
  dump_conf: 'conf',
  dump_schedule: 'scheduled',
  dump_reserved: 'reserved',
  dump_active: 'active',
  dump_revoked: 'revoked',
  dump_tasks: 'registered',
};

/** Celery commands this pool does not implement (docs/celery-control.md says why): an error reply, never a fake. */
const UNSUPPORTED = new Set(['revoke_by_stamped_headers', 'election', 'objgraph', 'memsample', 'memdump']);

/** Run one command; undefined = no reply (our own mingle hello). */
export async function runCommand(name: string, args: Record<string, unknown>, env: NodeEnv): Promise<Reply> {
  const method = ALIASES[name] ?? name;
  if (UNSUPPORTED.has(method)) return nok(`No such control command: ${method} (not implemented by ${SW_IDENT})`);
  switch (method) {
    case 'ping':
      return ok('pong');
    case 'clock':
      return { clock: env.clock() };
    case 'hello':
      return args.from_node === env.nodename ? undefined : { revoked: {}, clock: env.clock() };
    case 'heartbeat':
      await env.heartbeat();
      return null;
    case 'revoked':
      return env.revokedIds();
    case 'query_task':
      return queryTask(env, args);
    case 'terminate':
      return terminate(env, args);
    case 'stats':
      return stats(env);
    case 'active':
    case 'reserved':
    case 'scheduled':
      return flatLists(await env.ask(method));
    case 'registered':
      return registered(env, args);
    case 'active_queues':
      return queuesOf(env.config(), 'celery').map((q) => queueInfo(q, env.config().celery));
    case 'report':
      return ok(report(env));
    case 'conf':
      return conf(env);
    case 'shutdown':
      env.signal('TERM');
      return ok('shutdown started');
    case 'pool_grow':
      return poolGrow(env, Math.max(1, num(args.n, 1)));
    case 'pool_shrink':
      resize(env, -Math.max(1, num(args.n, 1)));
      return ok('pool will shrink');
    case 'pool_restart':
      env.signal('HUP');
      return ok('reload started');
    case 'autoscale':
      return autoscale(env, args);
    case 'revoke':
      return revoke(env, args);
    case 'add_consumer':
    case 'cancel_consumer':
      return consumers(env, method, args);
    case 'enable_events':
    case 'disable_events':
      return taskEvents(env, method === 'enable_events');
    case 'rate_limit':
      return rateLimit(env, args);
    case 'time_limit':
      return timeLimit(env, args);
    default:
      return nok(`No such control command: ${method}`);
  }
}
