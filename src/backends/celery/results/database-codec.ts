// The bytes in the database backend's `result` (and `children`, `stamps`) columns, pure. Celery 5.7 stores them
// encoded with the result serializer (JSON here); Celery 5.6 and older stored `result` as a PickleType pickle. Both
// are read, the way Celery 5.7's _decode_stored_result tells them apart (a pickle starts with 0x80); writing
// follows the configured format.
import { dumps, dumpsGroupResult, PyTuple } from './pickle-write.js';
import { PickleRefusedError, unpickle } from './pickle.js';

/** How `result` is written: `json` as Celery 5.7 does (result_serializer json), `pickle` for Celery ≤ 5.6 clients. */
export type ResultFormat = 'json' | 'pickle';

/** A stored value this worker cannot read (another serializer, or garbage): the error names what was found. */
export class StoredResultError extends Error {
  override name = 'StoredResultError';
}

/** Every pickle Celery/kombu/SQLAlchemy writes starts with PROTO (protocol 2+); JSON text never does. */
export const isPickle = (b: Buffer): boolean => b.length > 0 && b[0] === 0x80;

/**
 * One stored column value → the JS value. `what` names it in errors ("the stored result of task <id>").
 * Not a pickle and not JSON: most likely a row written by a Python app with result_serializer msgpack or yaml,
 * which this worker does not speak (its result serializer is JSON, as Celery's default).
 */
export function decodeStored(b: Buffer, what: string): unknown {
  if (isPickle(b)) {
    try {
      return unpickle(b);
    } catch (err) {
      if (!(err instanceof PickleRefusedError)) throw err;
      throw new PickleRefusedError(`${what} cannot be read: ${err.message}`);
    }
  }
  const text = b.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new StoredResultError(
      `${what} is neither a pickle nor JSON (first bytes ${b.subarray(0, 8).toString('hex')}): this worker reads ` +
        "result_serializer='json' (Celery's default) and Celery ≤ 5.6 pickles; msgpack and yaml are not supported",
    );
  }
}

/** Celery writes exc_message as a tuple: keep that in a pickle, so Python reads back what its own backend writes. */
function forPickle(status: string, result: unknown): unknown {
  if ((status === 'FAILURE' || status === 'RETRY' || status === 'REVOKED') && result && typeof result === 'object') {
    const r = result as Record<string, unknown>;
    if (Array.isArray(r.exc_message)) return { ...r, exc_message: new PyTuple(r.exc_message) };
  }
  return result;
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v ?? null));

/** The `result` column for a task in `status`. */
export function encodeResult(format: ResultFormat, status: string, result: unknown): Buffer {
  return format === 'pickle' ? dumps(forPickle(status, result)) : json(result);
}

/**
 * The `children` column (Celery 5.7): the children's result tuples, serializer-encoded, or NULL when there are
 * none. Always JSON, even in pickle mode: Celery 5.7 decodes this column with the serializer and has no pickle
 * fallback for it, and Celery ≤ 5.6 never reads it.
 */
export function encodeChildren(children: unknown): Buffer | null {
  return Array.isArray(children) && children.length > 0 ? json(children) : null;
}

/**
 * The `result` of a saved group: Celery 5.7 encodes `GroupResult.as_tuple()` — [[gid, null], [[[id, null], null],
 * ...]] — with the serializer; Celery ≤ 5.6 pickles the GroupResult itself (which our reader also reads as its
 * as_tuple()).
 */
export function encodeGroup(format: ResultFormat, gid: string, ids: readonly string[]): Buffer {
  if (format === 'pickle') return dumpsGroupResult(gid, ids);
  return json([[gid, null], ids.map((id) => [[id, null], null])]);
}

/** A group's stored tuple → its task ids (null when it is not a GroupResult tuple). */
export function groupIds(tuple: unknown): string[] | null {
  const children = Array.isArray(tuple) ? (tuple[1] as unknown) : null;
  if (!Array.isArray(children)) return null;
  return children.flatMap((c: unknown) =>
    Array.isArray(c) && Array.isArray(c[0]) && typeof c[0][0] === 'string' ? [c[0][0] as string] : [],
  );
}

/**
 * The `stamps` column (Celery 5.7, extended rows): `{stamped_headers, stamps: {header: value}}` → the meta fields
 * Celery's _get_task_meta_for merges in (stamped_headers and each stamp). Unreadable stamps are ignored, as there.
 */
export function stampFields(raw: Buffer): Record<string, unknown> {
  let info: unknown;
  try {
    info = decodeStored(raw, 'stamps');
  } catch {
    return {};
  }
  if (!info || typeof info !== 'object' || Array.isArray(info)) return {};
  const o = info as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if ('stamped_headers' in o) out.stamped_headers = o.stamped_headers;
  const stamps = o.stamps;
  if (stamps && typeof stamps === 'object' && !Array.isArray(stamps)) {
    for (const [k, v] of Object.entries(stamps)) {
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}
