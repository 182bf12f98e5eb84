// Pickles of plain values that Python unpickles to the same values (what SQLAlchemy's PickleType stores for a JSON
// value: None, bool, int, float, str, list, dict, and tuples for Celery's exc_message), plus the one object Celery
// needs from us: a GroupResult for GroupResult.save(), written as Python writes it (celery.app.base's
// _unpickle_appattr), with no result backend in it, so Python's restore() uses its own app's backend.
//
// Protocol 4: every Python Celery 5 supports (3.4+), and none of these values needs protocol 5's buffers.

/** A Python tuple (a JS array is written as a list). */
export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

/** Appends are batched like Python's pickler does (1000 items per APPENDS/SETITEMS). */
const BATCH = 1000;
const MAX_DEPTH = 1000;

class Out {
  readonly chunks: Buffer[] = [];
  op(...bytes: number[]): void {
    this.chunks.push(Buffer.from(bytes));
  }
  raw(b: Buffer): void {
    this.chunks.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    if (b.length < 256) this.op(0x8c, b.length);
    else {
      const len = Buffer.alloc(5);
      len[0] = 0x58;
      len.writeUInt32LE(b.length, 1);
      this.raw(len);
    }
    this.raw(b);
  }
  int(n: number | bigint): void {
    if (typeof n === 'number' && n >= -0x80000000 && n <= 0x7fffffff) {
      if (n >= 0 && n < 256) return this.op(0x4b, n);
      if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8);
      const b = Buffer.alloc(5);
      b[0] = 0x4a;
      b.writeInt32LE(n, 1);
      return this.raw(b);
    }
    // LONG1: little-endian two's complement, as short as Python writes it.
    let v = BigInt(n);
    const bytes: number[] = [];
    for (;;) {
      bytes.push(Number(v & 0xffn));
      const sign = bytes[bytes.length - 1]! & 0x80;
      v >>= 8n;
      if ((v === 0n && !sign) || (v === -1n && sign)) break;
    }
    this.op(0x8a, bytes.length, ...bytes);
  }
  float(n: number): void {
    const b = Buffer.alloc(9);
    b[0] = 0x47;
    b.writeDoubleBE(n, 1);
    this.raw(b);
  }
}

/** Like JSON.stringify: toJSON() is honoured; undefined and functions are dropped from objects, null in lists. */
function write(o: Out, v: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw new TypeError('value nests too deep to pickle');
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function')
    v = (v as { toJSON(): unknown }).toJSON();
  if (v === null || v === undefined || typeof v === 'function' || typeof v === 'symbol') return o.op(0x4e);
  if (v === true) return o.op(0x88);
  if (v === false) return o.op(0x89);
  if (typeof v === 'bigint') return o.int(v);
  if (typeof v === 'number') return Number.isSafeInteger(v) ? o.int(v) : o.float(v);
  if (typeof v === 'string') return o.str(v);
  if (v instanceof PyTuple) {
    o.op(0x28);
    for (const x of v.items) write(o, x, depth + 1);
    return o.op(0x74);
  }
  if (Array.isArray(v)) {
    o.op(0x5d);
    for (let i = 0; i < v.length; i += BATCH) {
      o.op(0x28);
      for (const x of v.slice(i, i + BATCH)) write(o, x, depth + 1);
      o.op(0x65);
    }
    return;
  }
  if (Buffer.isBuffer(v)) {
    const len = Buffer.alloc(5);
    len[0] = 0x42;
    len.writeUInt32LE(v.length, 1);
    o.raw(len);
    return o.raw(v);
  }
  const entries = Object.entries(v as object).filter(
    ([, x]) => x !== undefined && typeof x !== 'function' && typeof x !== 'symbol',
  );
  o.op(0x7d);
  for (let i = 0; i < entries.length; i += BATCH) {
    o.op(0x28);
    for (const [k, x] of entries.slice(i, i + BATCH)) {
      o.str(k);
      write(o, x, depth + 1);
    }
    o.op(0x75);
  }
}

/** A pickle (protocol 4) of a plain JSON-like value. */
export function dumps(v: unknown): Buffer {
  const o = new Out();
  o.op(0x80, 4);
  write(o, v, 0);
  o.op(0x2e);
  return Buffer.concat(o.chunks);
}

/**
 * GroupResult(gid, [AsyncResult(id), ...]) as Python pickles an app's GroupResult:
 * _unpickle_appattr('GroupResult', (gid, [_unpickle_appattr('AsyncResult', (id, None, None, None, None)), ...])).
 */
export function dumpsGroupResult(gid: string, ids: readonly string[]): Buffer {
  const o = new Out();
  o.op(0x80, 4);
  o.str('celery.app.base');
  o.str('_unpickle_appattr');
  o.op(0x93, 0x94); // STACK_GLOBAL, MEMOIZE as 0
  o.str('GroupResult');
  o.str(gid);
  o.op(0x5d);
  for (let i = 0; i < ids.length; i += BATCH) {
    o.op(0x28);
    for (const id of ids.slice(i, i + BATCH)) {
      o.op(0x68, 0); // BINGET 0: _unpickle_appattr
      o.str('AsyncResult');
      o.op(0x28);
      o.str(id);
      o.op(0x4e, 0x4e, 0x4e, 0x4e, 0x74); // None x4, TUPLE
      o.op(0x86, 0x52); // TUPLE2, REDUCE
    }
    o.op(0x65);
  }
  o.op(0x86, 0x86, 0x52, 0x2e); // (gid, list), ('GroupResult', ...), REDUCE, STOP
  return Buffer.concat(o.chunks);
}
