// Celery's Redis result backend, written the way celery/backends/redis.py + base.py write it: task meta under
// `celery-task-meta-<id>` (SETEX then PUBLISH on the same key), exceptions as {exc_type, exc_message, exc_module}
// so Python's AsyncResult.get() re-raises the right type, and the chord counter (`celery-taskset-meta-<gid>.j/.t/.s`).
import type { Redis } from 'ioredis';
import { errorMessage, errorType } from '../../tasks/errors.js';

export const TASK_KEY_PREFIX = 'celery-task-meta-';
export const GROUP_KEY_PREFIX = 'celery-taskset-meta-';

export type State = 'PENDING' | 'STARTED' | 'RETRY' | 'SUCCESS' | 'FAILURE' | 'REVOKED';
/** States whose result is an exception (celery.states.EXCEPTION_STATES) / that fail a chord (PROPAGATE_STATES). */
export const EXCEPTION_STATES: ReadonlySet<string> = new Set(['RETRY', 'FAILURE', 'REVOKED']);
export const PROPAGATE_STATES: ReadonlySet<string> = new Set(['FAILURE', 'REVOKED']);

export interface ExcInfo {
  exc_type: string;
  exc_message: unknown[];
  exc_module: string | null;
}

const PY_BUILTINS = new Set(
  (
    'Exception ValueError TypeError KeyError IndexError RuntimeError ZeroDivisionError ArithmeticError ' +
    'AttributeError LookupError NotImplementedError AssertionError OSError IOError TimeoutError ' +
    'ConnectionError PermissionError FileNotFoundError OverflowError RecursionError MemoryError ' +
    'UnicodeError UnicodeDecodeError NameError StopIteration'
  ).split(' '),
);
const CELERY_EXC = new Set([
  'NotRegistered',
  'TimeLimitExceeded',
  'SoftTimeLimitExceeded',
  'TaskRevokedError',
  'Retry',
  'ChordError',
  'InvalidTaskError',
  'MaxRetriesExceededError',
  'WorkerLostError',
  'Ignore',
  'Reject',
]);
const KOMBU_EXC = new Set(['DecodeError', 'ContentDisallowed', 'EncodeError']);
/** JS built-in error names that mean the same as a Python built-in. */
const JS_TO_PY: Record<string, string> = {
  RangeError: 'ValueError',
  SyntaxError: 'ValueError',
  ReferenceError: 'NameError',
  AbortError: 'TimeoutError',
};

/** The module Python resolves an exception type in; null lets Celery synthesise a class of that name. */
export function excModule(type: string): string | null {
  if (PY_BUILTINS.has(type)) return 'builtins';
  if (CELERY_EXC.has(type)) return 'celery.exceptions';
  if (KOMBU_EXC.has(type)) return 'kombu.exceptions';
  return null;
}

export function excInfo(type: string, message: string): ExcInfo {
  const t = JS_TO_PY[type] ?? (/^[A-Za-z_][A-Za-z0-9_]*$/.test(type) ? type : 'Exception');
  return { exc_type: t, exc_message: [message], exc_module: excModule(t) };
}

export function errorInfo(err: unknown): ExcInfo {
  return excInfo(errorType(err), errorMessage(err));
}

export function isoNow(nowMs: number): string {
  return new Date(nowMs).toISOString().replace('Z', '+00:00');
}

export interface MetaRequest {
  id: string;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  retries: number;
  group: string | null;
  parentId: string | null;
  queue: string | null;
}

export interface MetaOptions {
  extended: boolean;
  worker: string;
  nowMs: number;
  traceback?: string | null;
}

/** One result document, keys in Celery's order. */
export function buildMeta(state: State, result: unknown, req: MetaRequest, o: MetaOptions): Record<string, unknown> {
  const ready = state === 'SUCCESS' || state === 'FAILURE' || state === 'REVOKED';
  const meta: Record<string, unknown> = {
    status: state,
    result: result === undefined ? null : result,
    traceback: o.traceback ?? null,
    children: [],
    date_done: ready ? isoNow(o.nowMs) : null,
  };
  if (req.group) meta.group_id = req.group;
  if (req.parentId) meta.parent_id = req.parentId;
  if (o.extended) {
    Object.assign(meta, {
      name: req.task,
      args: req.args,
      kwargs: req.kwargs,
      worker: o.worker,
      retries: req.retries,
      queue: req.queue,
    });
  }
  meta.task_id = req.id;
  return meta;
}

// Never overwrite a SUCCESS (Celery's _store_result does the same check to survive duplicate deliveries).
const STORE_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur and string.find(string.sub(cur, 1, 64), '"status":%s*"SUCCESS"') then return 0 end
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('SETEX', KEYS[1], ttl, ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1`;

// on_chord_part_return of celery/backends/redis.py (ordered zset variant), made atomic: the one caller that
// completes the count gets every part back and the counter keys are deleted in the same step.
const CHORD_LUA = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local ready = redis.call('ZCOUNT', KEYS[1], '-inf', '+inf')
local diff = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local size = redis.call('GET', KEYS[3])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl) redis.call('EXPIRE', KEYS[2], ttl) redis.call('EXPIRE', KEYS[3], ttl)
end
if not size then return false end
if ready == (tonumber(size) or -1) + diff then
  local all = redis.call('ZRANGE', KEYS[1], 0, -1)
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return all
end
return false`;

export type ChordPart = { tid: string; state: string; result: unknown };

export class ResultStore {
  constructor(
    private readonly redis: Redis,
    private readonly expiresS: number,
  ) {
    redis.defineCommand('tbwStoreResult', { numberOfKeys: 1, lua: STORE_LUA });
    redis.defineCommand('tbwChordPart', { numberOfKeys: 3, lua: CHORD_LUA });
  }

  async store(id: string, meta: Record<string, unknown>): Promise<void> {
    const cmd = (this.redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>).tbwStoreResult!;
    await cmd.call(this.redis, TASK_KEY_PREFIX + id, JSON.stringify(meta), String(this.expiresS));
  }

  async get(id: string): Promise<Record<string, unknown> | null> {
    const raw = await this.redis.get(TASK_KEY_PREFIX + id);
    return raw === null ? null : (JSON.parse(raw) as Record<string, unknown>);
  }

  async setChordSize(gid: string, size: number): Promise<void> {
    const key = `${GROUP_KEY_PREFIX}${gid}.s`;
    if (this.expiresS > 0) await this.redis.setex(key, this.expiresS, String(size));
    else await this.redis.set(key, String(size));
  }

  /** Record one chord part; resolves with every part (in group order) when this one completed the chord. */
  async chordPart(
    gid: string,
    tid: string,
    index: number | null,
    state: string,
    result: unknown,
  ): Promise<ChordPart[] | null> {
    const cmd = (this.redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>).tbwChordPart!;
    const base = GROUP_KEY_PREFIX + gid;
    const member = JSON.stringify([1, tid, state, result]);
    const all = (await cmd.call(
      this.redis,
      `${base}.j`,
      `${base}.t`,
      `${base}.s`,
      member,
      index === null ? '+inf' : String(index),
      String(this.expiresS),
    )) as string[] | null;
    if (!all) return null;
    return all.map((m) => {
      const [, t, s, r] = JSON.parse(m) as [number, string, string, unknown];
      return { tid: t, state: s, result: r };
    });
  }
}
