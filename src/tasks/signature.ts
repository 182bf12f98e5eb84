// A task's parameters, for argument checking by default: declared Python-style (['a', {name: 'b', default: 2},
// '*', 'flag', '**rest']) or read from the source of run() when its parameters are destructuring patterns
// (`run([a, b = 2], { flag }, ctx)`). Pure; anything it cannot read with certainty gives null (no checking).
import type { ParamSpec, Signature } from './params.js';

/** One declared parameter: a name, '*' (keyword-only from here), '*name' (*args), '**name' (**kwargs), or a spec. */
export type ParamDecl = string | ParamSpec;

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** The Signature of a declared parameter list; throws TypeError on a list Python would refuse. */
export function declaredSignature(name: string, decls: readonly ParamDecl[]): Signature {
  const params: ParamSpec[] = [];
  const kwOnly: ParamSpec[] = [];
  let varArgs = false;
  let varKwargs = false;
  let star = false;
  const seen = new Set<string>();
  const fail = (why: string): never => {
    throw new TypeError(`task ${name}: params: ${why}`);
  };
  const take = (n: string): string => {
    if (!IDENT.test(n)) fail(`invalid parameter name ${JSON.stringify(n)}`);
    if (seen.has(n)) fail(`duplicate parameter '${n}'`);
    seen.add(n);
    return n;
  };
  for (const d of decls) {
    if (varKwargs) fail('nothing may follow **kwargs');
    if (typeof d === 'string' && d.startsWith('**')) {
      take(d.slice(2));
      varKwargs = true;
    } else if (typeof d === 'string' && d.startsWith('*')) {
      if (star) fail("'*' or *args may appear only once");
      if (d !== '*') take(d.slice(1));
      varArgs = d !== '*';
      star = true;
    } else {
      const spec: ParamSpec = typeof d === 'string' ? { name: d } : { ...d };
      if (typeof spec !== 'object' || spec === null || typeof spec.name !== 'string') {
        fail(`expected a name or {name, default?, type?}, got ${JSON.stringify(d)}`);
      }
      take(spec.name);
      if (!star && !('default' in spec) && params.some((p) => 'default' in p)) {
        fail(`parameter '${spec.name}' without a default follows one with a default`);
      }
      (star ? kwOnly : params).push(spec);
    }
  }
  if (star && !varArgs && kwOnly.length === 0) fail("'*' must be followed by a keyword-only parameter");
  return { name, params, kwOnly, varArgs, varKwargs };
}

/** Split `text` at top-level commas, honouring brackets, strings, template literals and comments. */
function splitTopLevel(text: string): string[] | null {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"' || c === "'" || c === '`') {
      const end = skipString(text, i);
      if (end === -1) return null;
      cur += text.slice(i, end + 1);
      i = end;
      continue;
    }
    if (c === '/' && (text[i + 1] === '/' || text[i + 1] === '*')) {
      const end = text[i + 1] === '/' ? text.indexOf('\n', i) : text.indexOf('*/', i + 2) + 1;
      if (end <= 0) return null;
      cur += ' ';
      i = end;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    if (c === ')' || c === ']' || c === '}') depth--;
    if (depth < 0) return null;
    if (c === ',' && depth === 0) {
      parts.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (depth !== 0) return null;
  parts.push(cur.trim());
  return parts;
}

/** Index of the quote closing the string that starts at `start`, or -1. */
function skipString(text: string, start: number): number {
  const q = text[start];
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === q) return i;
  }
  return -1;
}

/** Index of the bracket closing the one at `start`, or -1. */
function closing(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"' || c === "'" || c === '`') {
      i = skipString(text, i);
      if (i === -1) return -1;
    } else if (c === '/' && (text[i + 1] === '/' || text[i + 1] === '*')) {
      i = text[i + 1] === '/' ? text.indexOf('\n', i) : text.indexOf('*/', i + 2) + 1;
      if (i <= 0) return -1;
    } else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** The text of a function's parameter list, or null (native code, unusual forms). */
export function parameterText(source: string): string | null {
  let s = source.trimStart();
  if (s.startsWith('async') && /^async[\s(*[]/.test(s)) s = s.slice(5).trimStart();
  if (s.startsWith('function')) s = s.slice(8).trimStart();
  if (s.startsWith('*')) s = s.slice(1).trimStart();
  // A single-parameter arrow without parentheses: `args => …`.
  const bare = /^([A-Za-z_$][\w$]*)\s*=>/.exec(s);
  if (bare !== null) return bare[1] as string;
  // A method or function name, or a computed / quoted method key, before the parameter list.
  const name = /^[A-Za-z_$][\w$]*/.exec(s);
  if (name !== null) s = s.slice(name[0].length).trimStart();
  else if (s.startsWith('[') || s.startsWith('"') || s.startsWith("'")) {
    const end = s.startsWith('[') ? closing(s, 0) : skipString(s, 0);
    if (end === -1) return null;
    s = s.slice(end + 1).trimStart();
  }
  if (!s.startsWith('(')) return null;
  const end = closing(s, 0);
  if (end === -1) return null;
  const body = s.slice(end + 1);
  const params = s.slice(1, end);
  // A function that reads `arguments` (a generic wrapper), or a bound or native one, says nothing about its
  // parameters.
  if (/\barguments\b|\[native code\]/.test(body)) return null;
  return params;
}

/** `name = default` → [name, hasDefault]; a default may itself contain `=` (arrows, comparisons). */
function splitDefault(item: string): [string, boolean] {
  const parts = splitTopLevel(item);
  if (parts === null || parts.length !== 1) return [item, false];
  const eq = /^([^=]*?)\s*=(?!=|>)/.exec(item);
  if (eq === null) return [item.trim(), false];
  return [(eq[1] as string).trim(), true];
}

/** `[a, b = 1, ...rest]` → positional specs and *args; null when an element has no plain name. */
function readArrayPattern(text: string): { params: ParamSpec[]; varArgs: boolean } | null {
  const items = splitTopLevel(text.slice(1, -1));
  if (items === null) return null;
  if (items.length > 0 && items[items.length - 1] === '') items.pop(); // trailing comma
  const params: ParamSpec[] = [];
  let varArgs = false;
  for (const item of items) {
    if (item.startsWith('...')) {
      varArgs = true;
      continue;
    }
    const [name, optional] = splitDefault(item);
    if (!IDENT.test(name)) return null; // a hole or a nested pattern: no Python name to report
    params.push(optional ? { name, default: undefined } : { name });
  }
  return { params, varArgs };
}

/** `{ a, b = 1, c: alias, 'd-e': x = 2, ...rest }` → keyword-only specs and **kwargs; null when unreadable. */
function readObjectPattern(text: string): { kwOnly: ParamSpec[]; varKwargs: boolean } | null {
  const items = splitTopLevel(text.slice(1, -1));
  if (items === null) return null;
  if (items.length > 0 && items[items.length - 1] === '') items.pop();
  const kwOnly: ParamSpec[] = [];
  let varKwargs = false;
  for (const item of items) {
    if (item.startsWith('...')) {
      varKwargs = true;
      continue;
    }
    let key: string;
    let rest: string;
    const quoted = /^(["'])((?:\\.|(?!\1).)*)\1\s*:/.exec(item);
    if (quoted !== null) {
      key = quoted[2] as string;
      rest = item.slice(quoted[0].length);
    } else {
      const m = /^([A-Za-z_$][\w$]*)\s*(:?)/.exec(item);
      if (m === null) return null; // a computed key
      key = m[1] as string;
      rest = m[2] === ':' ? item.slice(m[0].length) : item;
    }
    const [, optional] = splitDefault(rest.trim());
    kwOnly.push(optional ? { name: key, default: undefined } : { name: key });
  }
  return { kwOnly, varKwargs };
}

/** A top-level parameter, its own default removed: `[a, b] = []` → `[a, b]`. */
function stripDefault(param: string): string {
  const open = param[0];
  if (open !== '[' && open !== '{') return splitDefault(param)[0];
  const end = closing(param, 0);
  return end === -1 ? param : param.slice(0, end + 1);
}

/**
 * The signature run() declares by its own parameters, or null when it does not say: checking applies when the
 * first parameter is an array pattern (`[a, b = 1, ...rest]`) or run takes no parameters at all. The second
 * parameter then says which keywords exist: absent = none besides the positional names, a name = any
 * (`**kwargs`), an object pattern = those keyword-only names (a `...rest` element = any others too).
 */
export function inferSignature(name: string, fn: (...a: never[]) => unknown): Signature | null {
  let text: string | null;
  try {
    text = parameterText(Function.prototype.toString.call(fn));
  } catch {
    return null;
  }
  if (text === null) return null;
  const list = splitTopLevel(text);
  if (list === null) return null;
  if (list.length > 0 && list[list.length - 1] === '') list.pop();
  if (list.length === 0) return { name, params: [], kwOnly: [], varArgs: false, varKwargs: false };
  const first = stripDefault(list[0] as string);
  if (!first.startsWith('[')) return null; // `args` (or `...all`): the task takes the call as it comes
  const positional = readArrayPattern(first);
  if (positional === null) return null;
  const second = list[1] === undefined ? undefined : stripDefault(list[1]);
  if (second === undefined) return { name, ...positional, kwOnly: [], varKwargs: false };
  if (IDENT.test(second)) return { name, ...positional, kwOnly: [], varKwargs: true };
  if (!second.startsWith('{')) return null;
  const keywords = readObjectPattern(second);
  if (keywords === null) return null;
  return { name, ...positional, ...keywords };
}

/** Python's way of writing a signature, for docs and list-tasks: `(a, b=…, *args, flag, **kwargs)`. */
export function formatSignature(sig: Signature): string {
  const p = (s: ParamSpec): string => ('default' in s ? `${s.name}=…` : s.name);
  const parts = sig.params.map(p);
  if (sig.varArgs === true) parts.push('*args');
  else if ((sig.kwOnly ?? []).length > 0) parts.push('*');
  parts.push(...(sig.kwOnly ?? []).map(p));
  if (sig.varKwargs === true) parts.push('**kwargs');
  return `(${parts.join(', ')})`;
}
