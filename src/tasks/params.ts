// Python-like argument binding: map a caller's (args, kwargs) onto a task's named parameters, failing with the
// same TypeError messages CPython gives, so a Python caller sees familiar errors whatever the backend.
import { pyTypeName } from './pyfmt.js';
import { TaskError, type Args, type Kwargs } from './types.js';

/** 'number' accepts int or float (as Python's float parameters accept ints); bool is not a number here. */
export type ParamType = 'any' | 'int' | 'float' | 'number' | 'str' | 'bool' | 'dict' | 'list';

export interface ParamSpec {
  name: string;
  /** Present (even if undefined) = the parameter is optional. */
  default?: unknown;
  type?: ParamType;
}

export interface Signature {
  /** The function name used in messages: "<name>() missing …". */
  name: string;
  params: readonly ParamSpec[];
}

const TYPE_LABEL: Record<ParamType, string> = {
  any: 'any',
  int: 'int',
  float: 'float',
  number: 'int or float',
  str: 'str',
  bool: 'bool',
  dict: 'dict',
  list: 'list',
};

function matches(type: ParamType, v: unknown): boolean {
  switch (type) {
    case 'any':
      return true;
    case 'int':
      return typeof v === 'number' && Number.isInteger(v);
    case 'float':
    case 'number':
      return typeof v === 'number';
    case 'str':
      return typeof v === 'string';
    case 'bool':
      return typeof v === 'boolean';
    case 'dict':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'list':
      return Array.isArray(v);
    default: {
      const never: never = type;
      return never;
    }
  }
}

function typeError(message: string): TaskError {
  // Not retryable: the same arguments fail the same way on every attempt.
  return new TaskError(message, 'TypeError', false);
}

/** 'a' / 'a' and 'b' / 'a', 'b', and 'c' — CPython's list of missing names. */
function nameList(names: string[]): string {
  const q = names.map((n) => `'${n}'`);
  if (q.length <= 1) return q.join('');
  if (q.length === 2) return `${q[0]} and ${q[1]}`;
  return `${q.slice(0, -1).join(', ')}, and ${q[q.length - 1]}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Bind positional and keyword arguments to a signature. Checks run in CPython's order: keyword problems
 * (unexpected, multiple values), then too many positionals, then missing ones, then the simple type checks.
 */
export function bind(args: Args, kwargs: Kwargs | undefined, sig: Signature): Record<string, unknown> {
  const fn = `${sig.name}()`;
  if (!Array.isArray(args)) throw typeError(`${fn} positional arguments must be a list, not ${pyTypeName(args)}`);
  const kw = kwargs ?? {};
  if (typeof kw !== 'object' || kw === null || Array.isArray(kw)) {
    throw typeError(`${fn} keyword arguments must be a dict, not ${pyTypeName(kw)}`);
  }
  const params = sig.params;
  const bound: Record<string, unknown> = {};
  const given = new Set<string>();
  params.forEach((p, i) => {
    if (i < args.length) {
      bound[p.name] = args[i];
      given.add(p.name);
    }
  });
  for (const [key, value] of Object.entries(kw)) {
    const p = params.find((q) => q.name === key);
    if (!p) throw typeError(`${fn} got an unexpected keyword argument '${key}'`);
    if (given.has(key)) throw typeError(`${fn} got multiple values for argument '${key}'`);
    bound[key] = value;
    given.add(key);
  }
  if (args.length > params.length) {
    const required = params.filter((p) => !('default' in p)).length;
    const takes = required === params.length ? `${params.length}` : `from ${required} to ${params.length}`;
    const word = params.length === 1 && required === 1 ? 'positional argument' : 'positional arguments';
    const was = args.length === 1 ? 'was' : 'were';
    throw typeError(`${fn} takes ${takes} ${word} but ${args.length} ${was} given`);
  }
  const missing = params.filter((p) => !given.has(p.name) && !('default' in p)).map((p) => p.name);
  if (missing.length > 0) {
    throw typeError(`${fn} missing ${plural(missing.length, 'required positional argument')}: ${nameList(missing)}`);
  }
  for (const p of params) {
    if (!given.has(p.name)) {
      bound[p.name] = p.default;
      continue;
    }
    if (p.type && !matches(p.type, bound[p.name])) {
      throw typeError(`${fn} argument '${p.name}' must be ${TYPE_LABEL[p.type]}, not ${pyTypeName(bound[p.name])}`);
    }
  }
  return bound;
}
