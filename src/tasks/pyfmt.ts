// Python value semantics for JSON data: str(), repr(), type names and `+`, so the built-in tasks return exactly
// what the original Python registry returned for the same (JSON-decoded) arguments.
//
// One unavoidable difference: JSON decoding in JavaScript cannot tell 5.0 from 5, so an integral float renders
// like an int ("5", not "5.0"). Non-integral floats render like Python's repr (0.1 → "0.1", 1e-05, 1.5e+16 …).
import { TaskError } from './types.js';

/** Python's type name for a JSON-decoded value, as used in Python's TypeError messages. */
export function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'function') return 'function';
  return 'dict';
}

/** Python's str() of a number that came from JSON (see the module comment on integral floats). */
export function pyNumber(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  // Integral values below 1e16 are taken as Python ints (the common case: JSON ints).
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return Object.is(x, -0) ? '0' : String(x);
  // Python's float repr: shortest round-trip digits (same as JS), scientific when exp < -4 or exp >= 16.
  const [mantissa = '0', expText = '0'] = x.toExponential().split('e');
  const exp = Number(expText);
  if (exp >= -4 && exp < 16) return String(x);
  const sign = exp < 0 ? '-' : '+';
  return `${mantissa}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/** Python's repr() of a string: single quotes unless the text holds ' and no ". */
export function pyStringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** Python's repr() of a JSON value (strings quoted; containers recurse with repr). */
export function pyRepr(v: unknown): string {
  return typeof v === 'string' ? pyStringRepr(v) : pyStr(v);
}

/** Python's str() (and f-string "{v}") of a JSON value. */
export function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return pyNumber(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (typeof v === 'object') {
    const items = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyStringRepr(k)}: ${pyRepr(x)}`);
    return `{${items.join(', ')}}`;
  }
  return String(v);
}

function isNumeric(v: unknown): v is number | boolean {
  return typeof v === 'number' || typeof v === 'boolean';
}

/** Python's `a + b` for JSON values: numbers add (bool counts as int), str and list concatenate, else TypeError. */
export function pyAdd(a: unknown, b: unknown): unknown {
  if (isNumeric(a) && isNumeric(b)) return Number(a) + Number(b);
  if (typeof a === 'string') {
    if (typeof b === 'string') return a + b;
    throw new TaskError(`can only concatenate str (not "${pyTypeName(b)}") to str`, 'TypeError', false);
  }
  if (Array.isArray(a)) {
    if (Array.isArray(b)) return [...(a as unknown[]), ...(b as unknown[])];
    throw new TaskError(`can only concatenate list (not "${pyTypeName(b)}") to list`, 'TypeError', false);
  }
  throw new TaskError(
    `unsupported operand type(s) for +: '${pyTypeName(a)}' and '${pyTypeName(b)}'`,
    'TypeError',
    false,
  );
}

/**
 * Python's repr() of a value, cut at `maxlen` characters with "..." (Celery's saferepr of a task's result in its
 * "succeeded" line, resultrepr_maxsize 1024). The walk stops once the budget is spent, so a huge (or cyclic)
 * result costs no more than maxlen characters of work.
 */
export function pyShortRepr(v: unknown, maxlen = 1024): string {
  let out = '';
  const full = (): boolean => out.length > maxlen;
  const walk = (value: unknown): void => {
    if (full()) return;
    // What the caller gets is the JSON of the result: a Date as its ISO string, and so on.
    const x = typeof (value as { toJSON?: unknown } | null)?.toJSON === 'function' ? (value as Date).toJSON() : value;
    if (Array.isArray(x)) {
      out += '[';
      x.forEach((item, i) => {
        if (full()) return;
        if (i > 0) out += ', ';
        walk(item);
      });
      out += ']';
    } else if (x !== null && typeof x === 'object') {
      out += '{';
      let first = true;
      for (const [k, item] of Object.entries(x as Record<string, unknown>)) {
        if (full()) break;
        out += `${first ? '' : ', '}${pyStringRepr(k)}: `;
        first = false;
        walk(item);
      }
      out += '}';
    } else {
      out += typeof x === 'string' && x.length > maxlen ? pyStringRepr(x.slice(0, maxlen + 1)) : pyRepr(x);
    }
  };
  walk(v);
  return full() ? `${out.slice(0, maxlen)}...` : out;
}
