// Argument checking by default: parameters read from run()'s source or declared Python-style, calls checked with
// CPython's TypeError wording, and the call handed to run() normalised. Opt-out and bind() keep full control.
import t from 'tap';
import { defineTask } from '../../src/tasks/define.js';
import { bindCall } from '../../src/tasks/params.js';
import { declaredSignature, formatSignature, inferSignature, parameterText } from '../../src/tasks/signature.js';
import { runTask } from '../../src/tasks/local-runner.js';
import { collectDefinitions } from '../../src/tasks/loader.js';
import { TaskError, type TaskDefinition } from '../../src/tasks/types.js';

type AnyFn = (...a: never[]) => unknown;
const shape = (fn: unknown): string | null => {
  const s = inferSignature('f', fn as AnyFn);
  return s === null ? null : formatSignature(s);
};

void t.test('reads the parameters of run() from its source', async (t) => {
  // Written as a user module would be: methods, arrows, functions, async, defaults, comments, quoted keys.
  const cases: [unknown, string | null][] = [
    [([a, b]: number[]) => (a ?? 0) + (b ?? 0), '(a, b)'],
    [async ([a, b = 2]: number[], { c, d = 3 }: Record<string, number>) => [a, b, c, d], '(a, b=…, *, c, d=…)'],
    [
      {
        run([url]: string[], { width = 800 }: { width?: number } = {}) {
          return [url, width];
        },
      }.run,
      '(url, *, width=…)',
    ],
    [
      {
        async run(/* the call */ [x /* , y */, y = 'a,b']: unknown[], kwargs: object) {
          return [x, y, kwargs];
        },
      }.run,
      '(x, y=…, **kwargs)',
    ],
    [function ([x]: unknown[], { 'dashed-key': v = 1, ...rest }: Record<string, unknown>) { return [x, v, rest]; }, '(x, *, dashed-key=…, **kwargs)'], // prettier-ignore
    [([a, ...more]: unknown[]) => [a, more], '(a, *args)'],
    [
      {
        ['run']([a]: unknown[]) {
          return a;
        },
      }.run,
      '(a)',
    ],
    [() => 1, '()'],
    // Not read: the task takes the call as it comes (its own bind(), or no checking at all).
    [(args: unknown[]) => args, null],
    [(args: unknown[], kwargs: object) => [args, kwargs], null],
    [(...all: unknown[]) => all, null],
    [([a, , b]: unknown[]) => [a, b], null],
    [([a, [b]]: [unknown, unknown[]]) => [a, b], null],
    [function () {}.bind(null), null],
    [
      function wrapper() {
        return arguments.length;
      },
      null,
    ],
  ];
  for (const [fn, want] of cases) t.equal(shape(fn), want, String(fn).slice(0, 60));
  t.equal(parameterText('async run([a], kw, ctx) { return 1 }'), '[a], kw, ctx');
  t.equal(parameterText('x => x'), 'x');
  t.equal(parameterText('garbage'), null);
});

void t.test('declared parameters follow Python: *, *args, **kwargs, defaults; bad lists refused', async (t) => {
  t.equal(
    formatSignature(declaredSignature('f', ['a', { name: 'b', default: 2 }, '*', 'c', '**kw'])),
    '(a, b=…, *, c, **kwargs)',
  );
  t.equal(formatSignature(declaredSignature('f', ['a', '*rest', 'c'])), '(a, *args, c)');
  t.throws(() => declaredSignature('f', ['a', 'a']), /duplicate parameter 'a'/);
  t.throws(() => declaredSignature('f', [{ name: 'a', default: 1 }, 'b']), /without a default follows/);
  t.throws(() => declaredSignature('f', ['**kw', 'a']), /nothing may follow \*\*kwargs/);
  t.throws(() => declaredSignature('f', ['*']), /must be followed by a keyword-only/);
  t.throws(() => declaredSignature('f', ['not a name']), /invalid parameter name/);
});

function typeError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof TaskError) || e.type !== 'TypeError' || e.retryable) throw e;
    return e.message;
  }
  throw new Error('did not throw');
}

void t.test("CPython's messages for keyword-only, *args and **kwargs", async (t) => {
  const sig = declaredSignature('g', ['a', '*', 'mode', { name: 'level', default: 1 }]);
  t.equal(
    typeError(() => bindCall([1], {}, sig)),
    "g() missing 1 required keyword-only argument: 'mode'",
  );
  t.equal(
    typeError(() => bindCall([], {}, sig)),
    "g() missing 1 required positional argument: 'a'",
  );
  t.equal(
    typeError(() => bindCall([1, 2], { mode: 'x' }, sig)),
    'g() takes 1 positional argument but 2 positional arguments (and 1 keyword-only argument) were given',
  );
  t.equal(
    typeError(() => bindCall([1], { mode: 'x', nope: 1 }, sig)),
    "g() got an unexpected keyword argument 'nope'",
  );
  t.same(bindCall([1], { mode: 'x' }, sig), { args: [1], kwargs: { mode: 'x', level: 1 } });
  const open = declaredSignature('h', ['a', '*more', '**kw']);
  t.same(bindCall([1, 2, 3], { a2: 1 }, open), { args: [1, 2, 3], kwargs: { a2: 1 } });
  t.same(bindCall([], { a: 1 }, open), { args: [1], kwargs: {} });
});

const ctx = undefined as never;

void t.test('defineTask checks calls by default and hands run() the normalised call', async (t) => {
  const add = defineTask({ name: 'add', run: ([a, b]: unknown[]) => (a as number) + (b as number) });
  t.equal(formatSignature(add.signature as NonNullable<TaskDefinition['signature']>), '(a, b)');
  t.equal(add.run([2, 3], {}, ctx), 5);
  t.equal(add.run([], { a: 2, b: 3 }, ctx), 5, 'keywords bind to the positional names');
  t.equal(
    typeError(() => add.run([2], {}, ctx)),
    "add() missing 1 required positional argument: 'b'",
  );
  t.equal(
    typeError(() => add.run([1, 2, 3], {}, ctx)),
    'add() takes 2 positional arguments but 3 were given',
  );
  t.equal(
    typeError(() => add.run([1, 2], { c: 3 }, ctx)),
    "add() got an unexpected keyword argument 'c'",
  );
  // JavaScript's own defaults apply to omitted optional parameters.
  const rep = defineTask({
    name: 'rep',
    run: ([s, n = 2]: unknown[], { sep = '-' }: Record<string, unknown>) =>
      Array(n as number)
        .fill(s)
        .join(sep as string),
  });
  t.equal(rep.run(['x'], {}, ctx), 'x-x');
  t.equal(rep.run([], { s: 'y', n: 3, sep: '+' }, ctx), 'y+y+y');
  // A failed check is an ordinary task failure: not retried, the same TypeError the caller sees in Python.
  const retried = defineTask({ name: 'retried', retries: 3, run: ([a]: unknown[]) => a });
  await t.rejects(runTask(retried, [], {}), {
    name: 'TypeError',
    message: "retried() missing 1 required positional argument: 'a'",
  });
});

void t.test('opting out, bind() for full control, and re-validation by the loader', async (t) => {
  const loose = defineTask({ name: 'loose', checkArgs: false, run: ([a]: unknown[], kw: object) => [a, kw] });
  t.equal(loose.signature, null);
  t.same(loose.run([1, 2, 3], { x: 1 }, ctx), [1, { x: 1 }], 'the call as sent');
  const own = defineTask({ name: 'own', run: (args: unknown[]) => args.length });
  t.equal(own.signature, null, 'run(args, kwargs, ctx) keeps full control');
  t.equal(own.run([1, 2, 3], {}, ctx), 3);
  const declared = defineTask({ name: 'decl', params: ['a'], run: (args: unknown[]) => args });
  t.same(declared.run([], { a: 1 }, ctx), [1]);
  // The loader re-defines every export: a checked task is not wrapped twice, an unchecked one stays unchecked.
  const [again, looseAgain] = collectDefinitions({ add: defineTask({ name: 'add', run: ([a]: unknown[]) => a }), loose }, 'm') as TaskDefinition[]; // prettier-ignore
  t.equal(again?.run([], { a: 7 }, ctx), 7);
  t.equal(formatSignature(again?.signature as NonNullable<TaskDefinition['signature']>), '(a)');
  t.equal(looseAgain?.signature, null);
  t.same(looseAgain?.run([1, 2], {}, ctx), [1, {}]);
  t.throws(() => defineTask({ name: 'bad', params: 'a' as never, run: () => 1 }), /params must be an array/);
});
