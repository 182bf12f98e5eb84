// Celery results as a part: the ResultStore interface every result backend implements (Redis today in
// results/redis.ts; a new store is a new file there plus one line in results/index.ts), and the result documents
// Celery's backends store, built the way celery/backends/base.py builds them: exceptions as {exc_type,
// exc_message, exc_module} so Python's AsyncResult.get() re-raises the right type.
import { errorMessage, errorType } from '../../tasks/errors.js';

export type State = 'PENDING' | 'STARTED' | 'RETRY' | 'SUCCESS' | 'FAILURE' | 'REVOKED';
/** States after which nothing changes (celery.states.READY_STATES). */
export const READY_STATES: ReadonlySet<string> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);
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

let lastIso: { ms: number; iso: string } = { ms: Number.NaN, iso: '' };

/** `date_done` as Celery writes it (UTC, `+00:00`); the string of the last millisecond asked is reused. */
export function isoNow(nowMs: number): string {
  if (nowMs !== lastIso.ms) lastIso = { ms: nowMs, iso: new Date(nowMs).toISOString().replace('Z', '+00:00') };
  return lastIso.iso;
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

/** One result document as Celery's backends store it (status, result, traceback, children, date_done, task_id...). */
export type ResultMeta = Record<string, unknown>;

export type ChordPart = { tid: string; state: string; result: unknown };

export interface ResultStore {
  /** `redis`, `database`, `rpc`, ...: shown by `inspect conf` and in logs. */
  readonly name: string;
  /**
   * How a chord's body gets sent when its header is done. `native`: the store counts the header's parts itself
   * (Redis: the celery-taskset-meta counter, setChordSize + chordPart) and the part that completes the count sends
   * the body. `unlock`: it cannot (database, rpc): the worker sends Celery's `celery.chord_unlock`, which polls the
   * header's results and then applies the body. `none`: chords are not supported (rpc: Celery's RPC backend raises
   * NotImplementedError for them; so does the worker).
   */
  readonly chordJoin: 'native' | 'unlock' | 'none';
  /**
   * Store a task's state; a stored SUCCESS is never overwritten (Celery's duplicate-delivery guard). `replyTo` is
   * the task message's reply_to: where an rpc store sends the state (the others ignore it).
   */
  store(id: string, meta: ResultMeta, replyTo?: string | null): Promise<void>;
  get(id: string): Promise<ResultMeta | null>;
  getMany(ids: readonly string[]): Promise<(ResultMeta | null)[]>;
  /** Resolves with the document once the task is ready (SUCCESS, FAILURE, REVOKED); rejects after `timeoutMs`. */
  waitReady(id: string, timeoutMs?: number): Promise<ResultMeta>;
  /** AsyncResult.forget(). */
  forget(id: string): Promise<void>;
  /** chordJoin `native` only: the header's size, before its parts are sent. */
  setChordSize?(groupId: string, size: number): Promise<void>;
  /** chordJoin `native` only: count one part; resolves with every part (in group order) once the last one is in. */
  chordPart?(
    groupId: string,
    taskId: string,
    index: number | null,
    state: string,
    result: unknown,
  ): Promise<ChordPart[] | null>;
  /**
   * A queue where this store receives the states of the tasks this process sends (rpc): the client puts it in
   * reply_to. Absent for stores that are read by task id.
   */
  replyQueue?(): Promise<string>;
  /** GroupResult.save() / restore() / delete(): the group's result ids. */
  saveGroup(groupId: string, resultIds: readonly string[]): Promise<void>;
  restoreGroup(groupId: string): Promise<string[] | null>;
  deleteGroup(groupId: string): Promise<void>;
  /**
   * celery.backend_cleanup: delete results older than the expiry. Only stores whose results do not expire by
   * themselves have it (database); the pool runs it periodically (CELERY_RESULT_CLEANUP_INTERVAL).
   */
  cleanup?(): Promise<{ tasks: number; groups: number }>;
  close(): Promise<void>;
}

/** The reply_to of a message's properties (where an rpc result goes), or null. */
export function replyToOf(properties: Record<string, unknown>): string | null {
  const r = properties.reply_to;
  return typeof r === 'string' && r !== '' ? r : null;
}
