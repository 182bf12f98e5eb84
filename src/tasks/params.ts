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
  /** Positional-or-keyword parameters, in order. */
  params: readonly ParamSpec[];
  /** Keyword-only parameters (Python's after `*` or `*args`). */
  kwOnly?: readonly ParamSpec[];
  /** Extra positional arguments are accepted (Python's `*args`). */
  varArgs?: boolean;
  /** Extra keyword arguments are accepted (Python's `**kwargs`). */
  varKwargs?: boolean;
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

interface Bound {
  /** Parameter name → value, for every parameter (defaults filled in). */
  values: Record<string, unknown>;
  /** Positional arguments beyond the parameters (only with varArgs). */
  extraArgs: unknown[];
  /** Keyword arguments that name no parameter (only with varKwargs). */
  extraKwargs: Kwargs;
}

function tooMany(fn: string, params: readonly ParamSpec[], given: number, kwOnlyGiven: number): TaskError {
  const required = params.filter((p) => !('default' in p)).length;
  const takes = required === params.length ? `${params.length}` : `from ${required} to ${params.length}`;
  const word = required === params.length && params.length === 1 ? 'positional argument' : 'positional arguments';
  // CPython adds the keyword-only arguments given, so "2 were given" is not read as counting them.
  const kw =
    kwOnlyGiven > 0
      ? ` positional argument${given === 1 ? '' : 's'} (and ${plural(kwOnlyGiven, 'keyword-only argument')})`
      : '';
  const was = given === 1 && kwOnlyGiven === 0 ? 'was' : 'were';
  return typeError(`${fn} takes ${takes} ${word} but ${given}${kw} ${was} given`);
}

/**
 * The core of binding, in CPython's order of checks: keyword problems (unexpected, multiple values), then too
 * many positionals, then missing positionals, then missing keyword-only ones, then the simple type checks.
 */
function bindAll(args: Args, kwargs: Kwargs | undefined, sig: Signature): Bound {
  return positionalOnly(args, kwargs, sig) ?? bindChecked(args, kwargs, sig);
}

/** The simple type check of one bound value (both binding paths): CPython's TypeError words. */
function checkType(name: string, p: ParamSpec, v: unknown): void {
  if (p.type && !matches(p.type, v)) {
    throw typeError(`${name}() argument '${p.name}' must be ${TYPE_LABEL[p.type]}, not ${pyTypeName(v)}`);
  }
}

const noKeys = (kw: Kwargs | undefined): boolean => {
  if (kw === undefined) return true;
  if (typeof kw !== 'object' || kw === null || Array.isArray(kw)) return false;
  for (const k in kw) if (Object.hasOwn(kw, k)) return false;
  return true;
};

/**
 * The usual call, bound without the general checks' allocations: one positional argument per parameter, no keyword
 * arguments, no keyword-only parameters. Only the type checks can fail, in the same order and words; null when
 * the call is not of this kind.
 */
function positionalOnly(args: Args, kwargs: Kwargs | undefined, sig: Signature): Bound | null {
  const params = sig.params;
  if (!Array.isArray(args) || args.length !== params.length || (sig.kwOnly?.length ?? 0) > 0 || !noKeys(kwargs)) {
    return null;
  }
  const values: Record<string, unknown> = {};
  for (let i = 0; i < params.length; i++) {
    const p = params[i] as ParamSpec;
    const v = args[i];
    checkType(sig.name, p, v);
    values[p.name] = v;
  }
  return { values, extraArgs: [], extraKwargs: {} };
}

function bindChecked(args: Args, kwargs: Kwargs | undefined, sig: Signature): Bound {
  const fn = `${sig.name}()`;
  if (!Array.isArray(args)) throw typeError(`${fn} positional arguments must be a list, not ${pyTypeName(args)}`);
  const kw = kwargs ?? {};
  if (typeof kw !== 'object' || kw === null || Array.isArray(kw)) {
    throw typeError(`${fn} keyword arguments must be a dict, not ${pyTypeName(kw)}`);
  }
  const params = sig.params;
  const kwOnly = sig.kwOnly ?? [];
  const values: Record<string, unknown> = {};
  const extraKwargs: Kwargs = {};
  const given = new Set<string>();
  params.forEach((p, i) => {
    if (i < args.length) {
      values[p.name] = args[i];
      given.add(p.name);
    }
  });
  for (const [key, value] of Object.entries(kw)) {
    const p = params.find((q) => q.name === key) ?? kwOnly.find((q) => q.name === key);
    if (!p) {
      if (sig.varKwargs !== true) throw typeError(`${fn} got an unexpected keyword argument '${key}'`);
      extraKwargs[key] = value;
      continue;
    }
    if (given.has(key)) throw typeError(`${fn} got multiple values for argument '${key}'`);
    values[key] = value;
    given.add(key);
  }
  if (args.length > params.length && sig.varArgs !== true) {
    throw tooMany(fn, params, args.length, kwOnly.filter((p) => given.has(p.name)).length);
  }
  for (const [list, kind] of [
    [params, 'positional'],
    [kwOnly, 'keyword-only'],
  ] as const) {
    const missing = list.filter((p) => !given.has(p.name) && !('default' in p)).map((p) => p.name);
    if (missing.length > 0) {
      throw typeError(`${fn} missing ${plural(missing.length, `required ${kind} argument`)}: ${nameList(missing)}`);
    }
  }
  for (const p of [...params, ...kwOnly]) {
    if (!given.has(p.name)) {
      values[p.name] = p.default;
      continue;
    }
    checkType(sig.name, p, values[p.name]);
  }
  return { values, extraArgs: sig.varArgs === true ? args.slice(params.length) : [], extraKwargs };
}

/** Bind positional and keyword arguments to a signature: parameter name → value. Throws CPython's TypeErrors. */
export function bind(args: Args, kwargs: Kwargs | undefined, sig: Signature): Record<string, unknown> {
  const b = bindAll(args, kwargs, sig);
  return sig.varKwargs === true ? { ...b.values, ...b.extraKwargs } : b.values;
}

/**
 * Bind a call and give it back normalised, the shape a checked task's run() receives: `args` = one value per
 * positional parameter in order (a keyword that named one moves here; an omitted optional one is its default,
 * `undefined` for a default written in the function, so JavaScript's own default applies), then the `*args`
 * extras; `kwargs` = the keyword-only values and the `**kwargs` extras.
 */
export function bindCall(args: Args, kwargs: Kwargs | undefined, sig: Signature): { args: Args; kwargs: Kwargs } {
  const b = bindAll(args, kwargs, sig);
  const outKwargs: Kwargs = {};
  for (const p of sig.kwOnly ?? []) if (b.values[p.name] !== undefined) outKwargs[p.name] = b.values[p.name];
  return {
    args: [...sig.params.map((p) => b.values[p.name]), ...b.extraArgs],
    kwargs: Object.assign(outKwargs, b.extraKwargs),
  };
}
