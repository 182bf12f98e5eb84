// Celery's built-in tasks (celery/app/builtins.py), which Python clients and workers send by name:
//   celery.chord_unlock   joins a chord on a result backend that cannot count its header (database, rpc): looks at
//                         the header's results, retries itself every result_chord_retry_interval until all are
//                         ready, then sends the body with the list of results, or fails it with a ChordError;
//   celery.map / celery.starmap   run a task of this worker once per item, in this process (task(item) /
//                         task(*item)); what `.map()` / `.starmap()` send;
//   celery.chunks         sends a group of celery.starmap, one per chunk of n items, and returns the GroupResult;
//   celery.accumulate     returns its args (or args[index]);
//   celery.backend_cleanup  deletes expired results (database backend).
import { randomUUID } from 'node:crypto';
import type { Registry } from '../../tasks/registry.js';
import type { TaskContext } from '../../tasks/types.js';
import { pyRepr } from '../../tasks/pyfmt.js';
import { isObj } from '../../util/json.js';
import type { Canvas } from './canvas.js';
import type { Sig, TaskMessage } from './protocol.js';
import { PROPAGATE_STATES, READY_STATES, type ExcInfo, type ResultStore } from './results.js';

export const CHORD_UNLOCK = 'celery.chord_unlock';

export interface BuiltinEnv {
  msg: TaskMessage;
  registry: Registry;
  results: ResultStore | null;
  canvas: Canvas;
  /** The queue the message came from: where continuations go when their signature names none. */
  queue: string;
  ctx: TaskContext;
  /** result_chord_retry_interval, seconds. */
  chordRetryIntervalS: number;
}

interface Builtin {
  run(env: BuiltinEnv): Promise<unknown>;
  /** The task is declared ignore_result (chord_unlock): no state of it is stored, not even RETRY or FAILURE. */
  ignoreResult: boolean;
  /** max_retries=None: retries (Retry errors) are never counted against a limit. */
  unlimitedRetries: boolean;
}

function celeryError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}

/** A Retry request (the same shape a registry task's retry has) after `seconds`. */
function retryIn(seconds: number, why: string): Error {
  return Object.assign(new Error(why), { name: 'Retry', countdownMs: seconds * 1000 });
}

/** The task id in a result tuple ([[id, parent], children]) or a plain id. */
function tupleId(r: unknown): string | null {
  if (typeof r === 'string') return r;
  if (Array.isArray(r) && Array.isArray(r[0]) && typeof r[0][0] === 'string') return r[0][0];
  if (Array.isArray(r) && typeof r[0] === 'string') return r[0];
  return null;
}

/** Python's repr() of a stored exception: ValueError('bad part'). */
export function excRepr(e: Partial<ExcInfo> | null | undefined): string {
  const args = Array.isArray(e?.exc_message) ? e.exc_message : [e?.exc_message ?? ''];
  return `${e?.exc_type ?? 'Exception'}(${args.map((a) => pyRepr(a)).join(', ')})`;
}

async function chordUnlock(env: BuiltinEnv): Promise<null> {
  const { msg, results } = env;
  const [groupId, callback] = msg.args;
  if (typeof groupId !== 'string' || !isObj(callback) || typeof callback.task !== 'string')
    throw celeryError('InvalidTaskError', `${CHORD_UNLOCK} needs (group_id, callback)`);
  if (!results) throw celeryError('ImproperlyConfigured', `${CHORD_UNLOCK} needs a result backend`);
  const interval = typeof msg.kwargs.interval === 'number' ? msg.kwargs.interval : env.chordRetryIntervalS;
  const maxRetries = typeof msg.kwargs.max_retries === 'number' ? msg.kwargs.max_retries : null;
  const tuples = Array.isArray(msg.kwargs.result) ? msg.kwargs.result : [];
  const ids = tuples.map(tupleId);
  if (ids.some((id) => id === null)) throw celeryError('InvalidTaskError', `${CHORD_UNLOCK}: unreadable result list`);
  const body = callback as unknown as Sig;
  let metas;
  try {
    metas = await results.getMany(ids as string[]);
  } catch (err) {
    // Celery: deps.ready() raising → retry (a stored value we refuse to read is not retried: it will not change).
    if ((err as Error).name !== 'PickleRefusedError') throw retryUnless(maxRetries, msg, interval, err);
    return await failBody(env, body, `Dependency of group ${groupId}: ${(err as Error).message}`, null);
  }
  if (metas.some((m) => m === null || !READY_STATES.has(String(m.status))))
    throw retryUnless(maxRetries, msg, interval, null);
  // join(propagate=True): the first failed part, in header order, raises.
  const bad = metas.findIndex((m) => PROPAGATE_STATES.has(String(m?.status)));
  if (bad >= 0) {
    const part = metas[bad]!;
    return failBody(env, body, `Dependency ${ids[bad]} raised ${excRepr(part.result as ExcInfo)}`, part.result);
  }
  await env.canvas.send(body, [metas.map((m) => m?.result)], {
    parentId: msg.id,
    rootId: msg.rootId ?? msg.id,
    priority: msg.priority,
  });
  return null;
}

function retryUnless(maxRetries: number | null, msg: TaskMessage, interval: number, cause: unknown): Error {
  if (maxRetries !== null && msg.retries >= maxRetries)
    return celeryError('MaxRetriesExceededError', `Can't retry ${CHORD_UNLOCK}[${msg.id}] args:${pyRepr(msg.args)}`);
  const why = cause === null ? 'chord header not ready' : `chord header unreadable: ${(cause as Error).message}`;
  return retryIn(interval, why);
}

async function failBody(env: BuiltinEnv, body: Sig, reason: string, partExc: unknown): Promise<null> {
  await env.canvas.failChordBody(env.msg, body, reason, (partExc as ExcInfo | null) ?? null);
  return null;
}

/** The registry task a map/starmap/chunks signature names (Python: signature(task).type). */
function innerTask(env: BuiltinEnv, builtin: string) {
  const sig = env.msg.kwargs.task ?? env.msg.args[0];
  const name = isObj(sig) && typeof sig.task === 'string' ? sig.task : typeof sig === 'string' ? sig : null;
  if (name === null) throw celeryError('InvalidTaskError', `${builtin} needs a task signature`);
  const def = env.registry.task(name);
  if (!def) throw celeryError('NotRegistered', `'${name}'`);
  return def;
}

function items(env: BuiltinEnv, builtin: string, pos: number): unknown[] {
  const it = env.msg.kwargs.it ?? env.msg.args[pos];
  if (!Array.isArray(it)) throw celeryError('TypeError', `${builtin}: it must be a list`);
  return it;
}

async function xmap(env: BuiltinEnv, star: boolean): Promise<unknown[]> {
  const name = star ? 'celery.starmap' : 'celery.map';
  const def = innerTask(env, name);
  const out: unknown[] = [];
  for (const item of items(env, name, 1)) {
    const args = star ? (Array.isArray(item) ? item : [item]) : [item];
    out.push(await def.run(args, {}, env.ctx));
  }
  return out;
}

async function chunks(env: BuiltinEnv): Promise<unknown> {
  const def = innerTask(env, 'celery.chunks');
  const it = items(env, 'celery.chunks', 1);
  const n = Number(env.msg.kwargs.n ?? env.msg.args[2]);
  if (!Number.isInteger(n) || n < 1) throw celeryError('ValueError', 'celery.chunks: n must be a positive integer');
  const gid = randomUUID();
  const ids: string[] = [];
  const taskSig = env.msg.kwargs.task ?? env.msg.args[0];
  const queue = def.queue ?? env.queue;
  for (let i = 0, k = 0; i < it.length; i += n, k++) {
    const id = randomUUID();
    ids.push(id);
    const part: Sig = {
      task: 'celery.starmap',
      args: [],
      kwargs: { task: taskSig, it: it.slice(i, i + n) },
      options: { task_id: id, queue },
      immutable: true,
    };
    await env.canvas.send(part, [], {
      parentId: env.msg.id,
      rootId: env.msg.rootId ?? env.msg.id,
      group: gid,
      groupIndex: k,
    });
  }
  // What a GroupResult is stored as by a JSON-serialising backend: as_tuple().
  return [[gid, null], ids.map((id) => [[id, null], null])];
}

const BUILTINS: Record<string, Builtin> = {
  [CHORD_UNLOCK]: { run: chordUnlock, ignoreResult: true, unlimitedRetries: true },
  'celery.map': { run: (env) => xmap(env, false), ignoreResult: false, unlimitedRetries: false },
  'celery.starmap': { run: (env) => xmap(env, true), ignoreResult: false, unlimitedRetries: false },
  'celery.chunks': { run: chunks, ignoreResult: false, unlimitedRetries: false },
  'celery.accumulate': {
    run: async ({ msg }) => {
      const index = msg.kwargs.index;
      return typeof index === 'number' ? msg.args[index] : msg.args;
    },
    ignoreResult: false,
    unlimitedRetries: false,
  },
  'celery.backend_cleanup': {
    run: async ({ results }) => {
      await results?.cleanup?.();
      return null;
    },
    ignoreResult: false,
    unlimitedRetries: false,
  },
};

/** Celery's built-in task of this name, or undefined. */
export function celeryBuiltin(name: string): Builtin | undefined {
  return Object.hasOwn(BUILTINS, name) ? BUILTINS[name] : undefined;
}
