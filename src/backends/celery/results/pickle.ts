// Python pickles as Celery's database backend stores them (SQLAlchemy PickleType), without Python: a reader that
// turns plain data into JS values and refuses anything that would run code (the writer is pickle-write.ts).
//
// Reading never executes anything. A pickle names code through GLOBAL/STACK_GLOBAL and runs it through
// REDUCE/NEWOBJ/BUILD/INST/OBJ; here a name is only accepted when it is on the short list in pickle-data.ts, and each
// of those is mapped to data by a pure function (no import, no lookup by name). Anything else — `os.system`,
// `builtins.eval`, a class of the task's own module, persistent ids, extension codes, out-of-band buffers — throws
// PickleRefusedError before the next opcode is read. Dict keys are defined with defineProperty, so `__proto__` in a
// pickle is an ordinary key, never a prototype.
import { acceptGlobal, EXCEPTIONS, Global, OPAQUE, PickleRefusedError, reducer, TzOffset } from './pickle-data.js';

export { PickleRefusedError };

function setKey(d: Record<string, unknown>, k: unknown, v: unknown): void {
  let key: string;
  if (typeof k === 'string') key = k;
  else if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') key = String(k);
  else if (k === null) key = 'null';
  else throw new PickleRefusedError('dict key is not a str, int, float, bool or None');
  Object.defineProperty(d, key, { value: v, enumerable: true, writable: true, configurable: true });
}

class Reader {
  #pos = 0;
  constructor(private readonly buf: Buffer) {}
  get done(): boolean {
    return this.#pos >= this.buf.length;
  }
  #need(n: number): void {
    if (this.#pos + n > this.buf.length) throw new PickleRefusedError('pickle ends in the middle of an opcode');
  }
  u8(): number {
    this.#need(1);
    return this.buf[this.#pos++]!;
  }
  bytes(n: number): Buffer {
    if (!Number.isSafeInteger(n) || n < 0) throw new PickleRefusedError('bad length in pickle');
    this.#need(n);
    const out = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
  u16(): number {
    return this.bytes(2).readUInt16LE(0);
  }
  u32(): number {
    return this.bytes(4).readUInt32LE(0);
  }
  i32(): number {
    return this.bytes(4).readInt32LE(0);
  }
  u64(): number {
    return Number(this.bytes(8).readBigUInt64LE(0));
  }
  line(): string {
    const end = this.buf.indexOf(0x0a, this.#pos);
    if (end < 0) throw new PickleRefusedError('pickle text opcode without a newline');
    const s = this.buf.toString('latin1', this.#pos, end);
    this.#pos = end + 1;
    return s;
  }
}

/** Two's complement little-endian → number (bigint beyond 2^53 is made a number, as JSON.parse would). */
function longFrom(bytes: Buffer): number {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return Number(v);
}

/** Python 2 text opcodes quote strings with repr(); only the plain forms are read. */
function unquote(s: string): string {
  if (s.length >= 2 && (s[0] === "'" || s[0] === '"') && s[s.length - 1] === s[0]) return s.slice(1, -1);
  throw new PickleRefusedError('unsupported quoted string in pickle');
}

/** Read one pickle (protocol 0–5) into JS values; throws PickleRefusedError for anything that needs code. */
// eslint-disable-next-line max-lines-per-function -- one opcode switch, read top to bottom like pickle.py's table
function loads(buf: Buffer): unknown {
  const r = new Reader(buf);
  let stack: unknown[] = [];
  const meta: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const pop = (): unknown => {
    if (stack.length === 0) throw new PickleRefusedError('pickle stack underflow');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = meta.pop();
    if (prev === undefined) throw new PickleRefusedError('pickle MARK missing');
    stack = prev;
    return items;
  };
  // Not `stack.push(popMark())`: that would push onto the array popMark() just replaced.
  const pushMarked = (): void => {
    const items = popMark();
    stack.push(items);
  };
  const top = (): unknown => {
    if (stack.length === 0) throw new PickleRefusedError('pickle stack underflow');
    return stack[stack.length - 1];
  };
  const dictItems = (d: unknown, items: unknown[]): void => {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new PickleRefusedError('SETITEM on a non-dict');
    for (let i = 0; i + 1 < items.length; i += 2) setKey(d as Record<string, unknown>, items[i], items[i + 1]);
  };
  const reduce = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof Global)) throw new PickleRefusedError('pickle calls something that is not a known name');
    const h = reducer(fn);
    if (h === null) throw new PickleRefusedError(`pickle calls ${fn.fqn}; refused without running it`);
    if (!Array.isArray(args)) throw new PickleRefusedError(`arguments of ${fn.fqn} are not a tuple`);
    return h(args);
  };
  for (;;) {
    const op = r.u8();
    switch (op) {
      case 0x80: // PROTO
        if (r.u8() > 5) throw new PickleRefusedError('pickle protocol above 5');
        break;
      case 0x95: // FRAME
        r.bytes(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || meta.length !== 0) throw new PickleRefusedError('pickle does not end with one value');
        return stack[0];
      case 0x28: // MARK
        meta.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(r.u8());
        break;
      case 0x4d: // BININT2
        stack.push(r.u16());
        break;
      case 0x4a: // BININT
        stack.push(r.i32());
        break;
      case 0x8a: // LONG1
        stack.push(longFrom(r.bytes(r.u8())));
        break;
      case 0x8b: // LONG4
        stack.push(longFrom(r.bytes(r.u32())));
        break;
      case 0x49: {
        // INT (text): also True/False as I01/I00
        const s = r.line();
        stack.push(s === '01' ? true : s === '00' ? false : Number.parseInt(s, 10));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(Number(BigInt(r.line().replace(/L$/, ''))));
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number.parseFloat(r.line()));
        break;
      case 0x47: // BINFLOAT
        stack.push(r.bytes(8).readDoubleBE(0));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(r.bytes(r.u8()).toString('utf8'));
        break;
      case 0x58: // BINUNICODE
        stack.push(r.bytes(r.u32()).toString('utf8'));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(r.bytes(r.u64()).toString('utf8'));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text); only plain text is read
        stack.push(r.line());
        break;
      case 0x55: // SHORT_BINSTRING (py2 str)
        stack.push(r.bytes(r.u8()).toString('latin1'));
        break;
      case 0x54: // BINSTRING
        stack.push(r.bytes(r.u32()).toString('latin1'));
        break;
      case 0x53: // STRING (text, quoted)
        stack.push(unquote(r.line()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(Buffer.from(r.bytes(r.u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(Buffer.from(r.bytes(r.u32())));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(Buffer.from(r.bytes(r.u64())));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        pushMarked();
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) throw new PickleRefusedError('APPEND on a non-list');
        l.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) throw new PickleRefusedError('APPENDS on a non-list');
        for (const v of items) l.push(v);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        pushMarked();
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const y = pop();
        stack.push([pop(), y]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const z = pop();
        const y = pop();
        stack.push([pop(), y, z]);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push({});
        break;
      case 0x64: {
        // DICT
        const d = {};
        dictItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        dictItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        dictItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET (sets read as lists, as kombu's JSON writes them)
        stack.push([]);
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!Array.isArray(s)) throw new PickleRefusedError('ADDITEMS on a non-set');
        for (const v of items) s.push(v);
        break;
      }
      case 0x91: // FROZENSET
        pushMarked();
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: // PUT
        memo.set(Number.parseInt(r.line(), 10), top());
        break;
      case 0x71: // BINPUT
        memo.set(r.u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(r.u32(), top());
        break;
      case 0x67: // GET
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const k = op === 0x67 ? Number.parseInt(r.line(), 10) : op === 0x68 ? r.u8() : r.u32();
        if (!memo.has(k)) throw new PickleRefusedError(`pickle memo ${k} is missing`);
        stack.push(memo.get(k));
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = r.line();
        stack.push(acceptGlobal(module, r.line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          throw new PickleRefusedError('STACK_GLOBAL needs two strings');
        stack.push(acceptGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(reduce(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD: only an exception's __dict__, which Celery's exception dict does not carry
        pop();
        const obj = top();
        if (typeof obj !== 'object' || obj === null || !EXCEPTIONS.has(obj))
          throw new PickleRefusedError('pickle sets the state of an object (BUILD); refused without running it');
        break;
      }
      case 0x81: // NEWOBJ
      case 0x92: // NEWOBJ_EX
      case 0x69: // INST
      case 0x6f: // OBJ
        throw new PickleRefusedError('pickle creates an object of a class; refused without running it');
      case 0x50: // PERSID
      case 0x51: // BINPERSID
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        throw new PickleRefusedError(`pickle opcode 0x${op.toString(16)} refers to outside objects; refused`);
      default:
        throw new PickleRefusedError(`unknown pickle opcode 0x${op.toString(16)}`);
    }
    if (r.done) throw new PickleRefusedError('pickle has no STOP');
  }
}

/** Read a pickle into plain JSON-like data (what a JSON result backend would hand over); refuses code. */
export function unpickle(buf: Buffer): unknown {
  return plain(loads(buf));
}

/** Bytes become text, opaque objects null: the value a JSON result backend would hand over. */
function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (Array.isArray(v)) return v.map(plain);
  if (v === OPAQUE || v instanceof TzOffset) return null;
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setKey(out, k, plain(x));
    return out;
  }
  return v;
}
