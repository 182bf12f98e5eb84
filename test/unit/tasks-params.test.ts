// Python-like binding: the TypeError messages must be CPython's, in CPython's order of checks.
import t from 'tap';
import { bind, type Signature } from '../../src/tasks/params.js';
import { TaskError } from '../../src/tasks/types.js';

const add: Signature = { name: 'add_numbers', params: [{ name: 'a' }, { name: 'b' }] };
const work: Signature = { name: 'simulate_work', params: [{ name: 'duration', default: 1, type: 'number' }] };
const none: Signature = { name: 'health_check', params: [] };
const one: Signature = { name: 'echo', params: [{ name: 'message' }] };
const three: Signature = {
  name: 'f',
  params: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd', default: 0 }],
};

function typeError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof TaskError)) throw e;
    if (e.type !== 'TypeError' || e.name !== 'TypeError') throw new Error(`wrong type ${e.type}`);
    if (e.retryable) throw new Error('argument errors must not be retryable');
    return e.message;
  }
  throw new Error('did not throw');
}

void t.test('binds positionals, keywords and defaults', async (t) => {
  t.same(bind([2, 3], {}, add), { a: 2, b: 3 });
  t.same(bind([2], { b: 3 }, add), { a: 2, b: 3 });
  t.same(bind([], { b: 3, a: 2 }, add), { a: 2, b: 3 });
  t.same(bind([], undefined, work), { duration: 1 });
  t.same(bind([0.5], {}, work), { duration: 0.5 });
  t.same(bind([], { duration: 2 }, work), { duration: 2 });
  t.same(bind([], {}, none), {});
  t.same(bind([1, 2, 3], {}, three), { a: 1, b: 2, c: 3, d: 0 });
});

void t.test('missing arguments', async (t) => {
  t.equal(
    typeError(() => bind([2], {}, add)),
    "add_numbers() missing 1 required positional argument: 'b'",
  );
  t.equal(
    typeError(() => bind([], {}, add)),
    "add_numbers() missing 2 required positional arguments: 'a' and 'b'",
  );
  t.equal(
    typeError(() => bind([], {}, three)),
    "f() missing 3 required positional arguments: 'a', 'b', and 'c'",
  );
  t.equal(
    typeError(() => bind([], { b: 1 }, add)),
    "add_numbers() missing 1 required positional argument: 'a'",
  );
});

void t.test('too many positionals', async (t) => {
  t.equal(
    typeError(() => bind([1, 2, 3], {}, add)),
    'add_numbers() takes 2 positional arguments but 3 were given',
  );
  t.equal(
    typeError(() => bind([1], {}, none)),
    'health_check() takes 0 positional arguments but 1 was given',
  );
  t.equal(
    typeError(() => bind([1, 2], {}, one)),
    'echo() takes 1 positional argument but 2 were given',
  );
  t.equal(
    typeError(() => bind([1, 2], {}, work)),
    'simulate_work() takes from 0 to 1 positional arguments but 2 were given',
  );
});

void t.test('keyword problems, checked before the positional count', async (t) => {
  t.equal(
    typeError(() => bind([1, 2], { x: 1 }, add)),
    "add_numbers() got an unexpected keyword argument 'x'",
  );
  t.equal(
    typeError(() => bind([1, 2, 3], { x: 1 }, add)),
    "add_numbers() got an unexpected keyword argument 'x'",
  );
  t.equal(
    typeError(() => bind([1], { a: 2 }, add)),
    "add_numbers() got multiple values for argument 'a'",
  );
});

void t.test('simple type checks and container shapes', async (t) => {
  t.equal(
    typeError(() => bind(['x'], {}, work)),
    "simulate_work() argument 'duration' must be int or float, not str",
  );
  t.equal(
    typeError(() => bind([true], {}, work)),
    "simulate_work() argument 'duration' must be int or float, not bool",
  );
  const typed: Signature = {
    name: 'g',
    params: [
      { name: 'i', type: 'int' },
      { name: 's', type: 'str' },
      { name: 'd', type: 'dict' },
      { name: 'l', type: 'list' },
      { name: 'b', type: 'bool' },
    ],
  };
  t.same(bind([1, 's', {}, [], false], {}, typed), { i: 1, s: 's', d: {}, l: [], b: false });
  t.equal(
    typeError(() => bind([1.5, 's', {}, [], false], {}, typed)),
    "g() argument 'i' must be int, not float",
  );
  t.equal(
    typeError(() => bind([1, null, {}, [], false], {}, typed)),
    "g() argument 's' must be str, not NoneType",
  );
  t.equal(
    typeError(() => bind([1, 's', [], [], false], {}, typed)),
    "g() argument 'd' must be dict, not list",
  );
  t.equal(
    typeError(() => bind([1, 's', {}, {}, false], {}, typed)),
    "g() argument 'l' must be list, not dict",
  );
  t.equal(
    typeError(() => bind([1, 's', {}, [], 0], {}, typed)),
    "g() argument 'b' must be bool, not int",
  );
  // A default is not type-checked (it is the author's choice, e.g. None).
  t.same(bind([], {}, { name: 'h', params: [{ name: 'x', default: null, type: 'str' }] }), { x: null });
  t.equal(
    typeError(() => bind({ a: 1 } as unknown as unknown[], {}, add)),
    'add_numbers() positional arguments must be a list, not dict',
  );
  t.equal(
    typeError(() => bind([], [1] as unknown as Record<string, unknown>, add)),
    'add_numbers() keyword arguments must be a dict, not list',
  );
});

void t.test('the positional-only fast path binds as the general one, and leaves every other call to it', async (t) => {
  const kwo: Signature = { name: 'k', params: [{ name: 'a' }], kwOnly: [{ name: 'flag' }] };
  t.equal(
    typeError(() => bind([1], {}, kwo)),
    "k() missing 1 required keyword-only argument: 'flag'",
    'a keyword-only parameter: the general checks',
  );
  t.same(bind([1], { flag: true }, kwo), { a: 1, flag: true });
  const kw: Signature = { name: 'v', params: [{ name: 'a' }], varKwargs: true };
  t.same(bind([1], {}, kw), { a: 1 }, '**kwargs, none given');
  t.same(bind([1], { z: 2 }, kw), { a: 1, z: 2 });
  t.equal(
    typeError(() => bind([1], { a: 2 }, add)),
    "add_numbers() got multiple values for argument 'a'",
  );
  t.same(bind([1, 2], Object.create({ inherited: 1 }) as Record<string, unknown>, add), { a: 1, b: 2 });
  t.same(bind([1, 2, 3], {}, three), { a: 1, b: 2, c: 3, d: 0 }, 'fewer than the parameters: defaults');
  t.same(bind([1, 2, 3, 4], undefined, three), { a: 1, b: 2, c: 3, d: 4 }, 'all of them, no kwargs at all');
});
