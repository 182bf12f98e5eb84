// Celery's revoke family for the supervisor's node (celery/worker/control.py): revoke, terminate, inspect revoked
// and query_task, with Python's argument rules (any truthy `terminate`, signal names as platforms.signum reads
// them) and its reply texts. The node keeps the revoked ids (LimitedSet: 50 000 for 3 h) and tells every child;
// the children revoke what they hold and terminate what they run.
import os from 'node:os';
import { pyStringRepr } from '../../../tasks/pyfmt.js';
import { PyError } from '../limits.js';
import type { ChildAnswer } from './commands.js';

/** Python's truth value of a JSON argument (Flower sends terminate=1, the CLI True). */
export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v !== null && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

/** celery.platforms.signals.signum: an int as is, else an upper-case name with or without SIG. */
export function signum(name: unknown): number {
  if (typeof name === 'number' && Number.isInteger(name)) return name;
  if (typeof name !== 'string' || name !== name.toUpperCase() || name === '')
    throw new PyError('TypeError', 'signal name must be uppercase string.');
  const full = name.startsWith('SIG') ? name : `SIG${name}`;
  const n = (os.constants.signals as Record<string, number | undefined>)[full];
  if (n === undefined) throw new PyError('AttributeError', `module 'signal' has no attribute '${full}'`);
  return n;
}

const idsOf = (v: unknown): string[] => {
  const list = typeof v === 'string' ? [v] : Array.isArray(v) ? v : [];
  return [...new Set(list.filter((x): x is string => typeof x === 'string'))];
};

/** Python's repr() of a set of ids, as `tasks {...} flagged as revoked` shows it. */
const setRepr = (ids: string[]): string => (ids.length === 0 ? 'set()' : `{${ids.map(pyStringRepr).join(', ')}}`);

/** What revoke needs from the node. */
export interface RevokeEnv {
  /** Remember the ids (node's LimitedSet) and make them known to the broker's fetch and to every child. */
  revoke(ids: string[]): Promise<void>;
  ask(what: string, args?: Record<string, unknown>): Promise<ChildAnswer[]>;
}

/** What one child did with a revoke: ids it was running (terminated) and ids it held and revoked. */
function found(answers: ChildAnswer[]): string[] {
  const out = new Set<string>();
  for (const a of answers) {
    const d = a.data as { terminated?: unknown; revoked?: unknown } | null;
    for (const id of [...idsOf(d?.terminated), ...idsOf(d?.revoked)]) out.add(id);
  }
  return [...out];
}

/** revoke task_id [terminate signal]: control.py revoke/_revoke, replies and all. */
export async function revoke(env: RevokeEnv, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const ids = idsOf(args.task_id);
  await env.revoke(ids);
  const terminate = truthy(args.terminate);
  // Python records the ids before it reads the signal: a bad signal name still leaves them revoked (and the held
  // messages with them), only nothing is terminated.
  let sig: number | null = null;
  let bad: PyError | null = null;
  try {
    sig = terminate ? signum(truthy(args.signal) ? args.signal : 'TERM') : null;
  } catch (e) {
    if (!(e instanceof PyError)) throw e;
    bad = e;
  }
  const hit = found(await env.ask('revoke', { ids, signum: sig }));
  if (bad !== null) return { error: bad.repr };
  if (!terminate) return { ok: `tasks ${setRepr(ids)} flagged as revoked` };
  return { ok: hit.length > 0 ? `terminate: ${hit.join(', ')}` : 'terminate: tasks unknown' };
}

/** terminate <signal> <id ...>: revoke with terminate=True. */
export function terminate(env: RevokeEnv, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  return revoke(env, { task_id: args.task_id, terminate: true, signal: args.signal });
}

/** inspect query_task id...: {id: [state, request info]} for the ids some child holds ('active' or 'reserved'). */
export async function queryTask(env: RevokeEnv, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const ids = idsOf(args.ids);
  const out: Record<string, unknown> = {};
  for (const a of await env.ask('query_task', { ids })) {
    if (a.data !== null && typeof a.data === 'object' && !Array.isArray(a.data)) Object.assign(out, a.data);
  }
  return out;
}
