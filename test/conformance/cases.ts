// The conformance suite every backend runs against its real server: one list of cases (built-ins, argument
// errors, typed failures, retries, time limits, sequential/parallel/chord/DAG workflows), each submit → result →
// assert. The worker pool under test must load test/fixtures/tasks/conformance.mjs with built-ins enabled.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { BackendClient } from '../../src/client/types.js';
import type { BackendName } from '../../src/tasks/types.js';

export type Expectation =
  /** Deep-equal (t.same). */
  | { value: unknown }
  /** tap's t.match pattern (constructors match by type, regexps match strings). */
  | { match: unknown }
  /** The result rejects with an Error of this name (exception type) and message. */
  | { error: { type: string | RegExp; message?: string | RegExp } };

export interface ConformanceCase {
  id: string;
  task: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  countdownMs?: number;
  /** The result must not arrive sooner than this many ms after submit (countdown cases). */
  notBeforeMs?: number;
  expect: Expectation | ((opts: ConformanceOptions) => Expectation);
  /** The task kills the child running it: on its first run only, or on every run (a poison task). */
  killsChild?: ChildKill;
}

export type ChildKill = 'once' | 'always';

export interface ConformanceOptions {
  /** Asserted as ctx.backend by the context case; any backend is accepted when omitted. */
  backend?: BackendName;
  /** Run only these case ids / skip these (e.g. a feature the backend documents as unsupported). */
  only?: string[];
  skip?: string[];
  /** Per-case wait for a result, ms (default 30 000). */
  resultTimeoutMs?: number;
  /** Send every case to this queue (default: the backend's default queue). */
  queue?: string;
  /**
   * Also run the cases whose task kills its own child (only against a supervised pool, never in-process). 'always'
   * needs the backend to enforce the delivery limit. Default: none.
   */
  childKills?: ChildKill[];
}

/** Where the lost-worker cases record their runs: one directory per test process, removed by runConformance. */
const LOST_DIR = join(tmpdir(), `tbw-conformance-${randomUUID()}`);

const typeError = (message: string): Expectation => ({ error: { type: 'TypeError', message } });

export const cases: readonly ConformanceCase[] = [
  // Built-ins: the original Python registry's results.
  { id: 'add_numbers positional', task: 'add_numbers', args: [2, 3], expect: { value: 5 } },
  { id: 'add_numbers keywords', task: 'add_numbers', kwargs: { a: 2, b: 3 }, expect: { value: 5 } },
  { id: 'add_numbers mixed', task: 'add_numbers', args: [2], kwargs: { b: 3.5 }, expect: { value: 5.5 } },
  { id: 'add_numbers strings', task: 'add_numbers', args: ['foo', 'bar'], expect: { value: 'foobar' } },
  { id: 'concat_with_number', task: 'concat_with_number', args: ['a', 1], expect: { value: 'a1' } },
  { id: 'format_result_message', task: 'format_result_message', args: [5], expect: { value: 'Result is 5' } },
  { id: 'echo', task: 'echo', args: ['hello'], expect: { value: 'Echo: hello' } },
  {
    id: 'echo python str',
    task: 'echo',
    args: [[1, 'a', null, true]],
    expect: { value: "Echo: [1, 'a', None, True]" },
  },
  {
    id: 'health_check',
    task: 'health_check',
    expect: { match: { status: 'healthy', timestamp: Number, worker: /\S/, message: 'Worker is operational' } },
  },
  {
    id: 'simulate_work',
    task: 'simulate_work',
    args: [0.2],
    expect: {
      match: {
        requested_duration: 0.2,
        actual_duration: Number,
        start_time: Number,
        end_time: Number,
        started_at: /^\d{4}-\d\d-\d\dT/,
        ended_at: /^\d{4}-\d\d-\d\dT/,
        status: 'completed',
      },
    },
  },
  {
    id: 'process_data transform',
    task: 'process_data',
    args: [{ name: 'ada', n: 1, ok: true }],
    kwargs: { operation: 'transform' },
    expect: {
      match: {
        original: { name: 'ada', n: 1, ok: true },
        operation: 'transform',
        processed_at: Number,
        status: 'completed',
        transformed: { name: 'ADA', n: '1', ok: 'TRUE' },
      },
    },
  },
  { id: 'process_data count', task: 'process_data', args: [{ a: 1, b: 2 }, 'count'], expect: { match: { count: 2 } } },
  { id: 'process_data validate empty', task: 'process_data', args: [{}], expect: { match: { valid: false } } },
  // Argument errors: Python's TypeError messages, never a crashed worker.
  {
    id: 'missing argument',
    task: 'add_numbers',
    args: [2],
    expect: typeError("add_numbers() missing 1 required positional argument: 'b'"),
  },
  {
    id: 'too many arguments',
    task: 'add_numbers',
    args: [1, 2, 3],
    expect: typeError('add_numbers() takes 2 positional arguments but 3 were given'),
  },
  {
    id: 'unexpected keyword',
    task: 'echo',
    kwargs: { message: 'x', loud: true },
    expect: typeError("echo() got an unexpected keyword argument 'loud'"),
  },
  {
    id: 'unsupported operand',
    task: 'add_numbers',
    args: [1, 'x'],
    expect: typeError("unsupported operand type(s) for +: 'int' and 'str'"),
  },
  {
    id: 'wrong argument type',
    task: 'process_data',
    args: [[1, 2]],
    expect: typeError("process_data() argument 'data' must be dict, not list"),
  },
  // Argument checking by default for JavaScript tasks: parameters read from run()'s own destructuring
  // (`run([a, b])`, `run([text, times = 2], { sep = '-' })`), or declared (`params`), or turned off.
  { id: 'checked positional', task: 'conformance_checked_add', args: [2, 3], expect: { value: 5 } },
  {
    id: 'checked keywords bind to positional names',
    task: 'conformance_checked_add',
    kwargs: { b: 3, a: 2 },
    expect: { value: 5 },
  },
  {
    id: 'checked missing argument',
    task: 'conformance_checked_add',
    args: [2],
    expect: typeError("conformance_checked_add() missing 1 required positional argument: 'b'"),
  },
  {
    id: 'checked too many arguments',
    task: 'conformance_checked_add',
    args: [1, 2, 3],
    expect: typeError('conformance_checked_add() takes 2 positional arguments but 3 were given'),
  },
  {
    id: 'checked unexpected keyword',
    task: 'conformance_checked_add',
    args: [1, 2],
    kwargs: { c: 3 },
    expect: typeError("conformance_checked_add() got an unexpected keyword argument 'c'"),
  },
  {
    id: 'checked multiple values',
    task: 'conformance_checked_add',
    args: [1, 2],
    kwargs: { a: 3 },
    expect: typeError("conformance_checked_add() got multiple values for argument 'a'"),
  },
  { id: 'checked defaults', task: 'conformance_checked_repeat', args: ['ab'], expect: { value: 'ab-ab' } },
  {
    id: 'checked keyword-only',
    task: 'conformance_checked_repeat',
    args: ['ab', 3],
    kwargs: { sep: '+' },
    expect: { value: 'ab+ab+ab' },
  },
  {
    id: 'checked unknown keyword-only',
    task: 'conformance_checked_repeat',
    args: ['ab'],
    kwargs: { sepp: '+' },
    expect: typeError("conformance_checked_repeat() got an unexpected keyword argument 'sepp'"),
  },
  {
    id: 'declared params',
    task: 'conformance_declared',
    args: [1],
    kwargs: { z: 5 },
    expect: { value: { a: 1, b: 10, extra: { z: 5 } } },
  },
  {
    id: 'declared missing keyword-only',
    task: 'conformance_declared_kwonly',
    args: [],
    expect: typeError("conformance_declared_kwonly() missing 1 required keyword-only argument: 'mode'"),
  },
  {
    id: 'unchecked takes the call as sent',
    task: 'conformance_unchecked',
    args: [1, 2, 3],
    kwargs: { extra: true },
    expect: { value: { a: 1, b: 2, kwargs: { extra: true } } },
  },
  // Failures, retries, time limits (fixture tasks).
  {
    id: 'typed error',
    task: 'conformance_fail_typed',
    args: ['x'],
    expect: { error: { type: 'ValueError', message: 'bad value: x' } },
  },
  { id: 'retry until success', task: 'conformance_flaky', expect: { value: { attempt: 3 } } },
  {
    id: 'retries exhausted',
    task: 'conformance_always_fails',
    expect: { error: { type: 'RuntimeError', message: 'always fails (attempt 2)' } },
  },
  {
    id: 'time limit',
    task: 'conformance_timeout',
    expect: {
      error: { type: 'TimeLimitExceeded', message: 'task conformance_timeout exceeded its time limit of 500 ms' },
    },
  },
  {
    id: 'task context',
    task: 'conformance_context',
    args: [1, 'two'],
    kwargs: { three: 3 },
    expect: (o) => ({
      match: {
        args: [1, 'two'],
        kwargs: { three: 3 },
        taskName: 'conformance_context',
        attempt: 1,
        redelivered: false,
        backend: o.backend ?? String,
        taskId: true,
        workerName: true,
        signal: true,
        logger: true,
      },
    }),
  },
  {
    id: 'countdown',
    task: 'echo',
    args: ['later'],
    countdownMs: 400,
    notBeforeMs: 350,
    expect: { value: 'Echo: later' },
  },
  // Lost workers: a rerun is not a retry (attempt stays 1, even with retries: 0 and a 4 s limit); a task that
  // kills its child every time fails with WorkerLostError once the delivery limit is used up.
  {
    id: 'lost worker: rerun on another child',
    task: 'conformance_lost_once',
    args: [join(LOST_DIR, 'once')],
    killsChild: 'once',
    expect: { match: { attempt: 1, redelivered: true, runs: 2 } },
  },
  {
    id: 'lost worker: delivery limit',
    task: 'conformance_lost_always',
    killsChild: 'always',
    expect: { error: { type: 'WorkerLostError', message: /conformance_lost_always/ } },
  },
  // Workflows, run natively by the backend.
  { id: 'sequential workflow', task: 'conformance_sequential', args: [2], expect: { value: 'Result is 5' } },
  {
    id: 'parallel workflow',
    task: 'conformance_parallel',
    args: [4],
    expect: { value: [5, 'Result is 4', 'Echo: 4'] },
  },
  { id: 'chord workflow', task: 'conformance_chord', args: [10], expect: { value: 23 } },
  { id: 'dag workflow', task: 'conformance_dag', args: [2, 3], expect: { value: '15 | Result is 5' } },
  {
    id: 'dag with two sinks',
    task: 'conformance_dag_two_sinks',
    args: [1, 1],
    expect: { value: { x: 'Echo: 2', y: 'Result is 2' } },
  },
  {
    id: 'workflow step failure',
    task: 'conformance_sequential',
    args: ['x'],
    expect: { error: { type: 'TypeError', message: 'can only concatenate str (not "int") to str' } },
  },
];

export function selectCases(opts: ConformanceOptions = {}): ConformanceCase[] {
  const known = new Set(cases.map((c) => c.id));
  for (const id of [...(opts.only ?? []), ...(opts.skip ?? [])]) {
    if (!known.has(id)) throw new Error(`conformance: no case with id "${id}"`);
  }
  const kills = opts.childKills ?? [];
  return cases.filter(
    (c) =>
      (!opts.only || opts.only.includes(c.id)) &&
      !opts.skip?.includes(c.id) &&
      (c.killsChild === undefined || kills.includes(c.killsChild)),
  );
}

type Submitted = { ok: true; id: string; at: number } | { ok: false; error: unknown };

/**
 * Submit every selected case first (so the backend runs them concurrently), then check each result in its own
 * subtest. Resolves when all subtests are done.
 */
export async function runConformance(t: Test, client: BackendClient, opts: ConformanceOptions = {}): Promise<void> {
  const selected = selectCases(opts);
  const resultTimeoutMs = opts.resultTimeoutMs ?? 30_000;
  if (selected.some((c) => c.killsChild !== undefined)) {
    mkdirSync(LOST_DIR, { recursive: true });
    t.teardown(() => rmSync(LOST_DIR, { recursive: true, force: true }));
  }
  const submitted: Submitted[] = await Promise.all(
    selected.map(async (c): Promise<Submitted> => {
      try {
        const at = Date.now();
        const { id } = await client.submit(c.task, {
          args: c.args ?? [],
          kwargs: c.kwargs ?? {},
          ...(opts.queue !== undefined ? { queue: opts.queue } : {}),
          ...(c.countdownMs !== undefined ? { countdownMs: c.countdownMs } : {}),
        });
        return { ok: true, id, at };
      } catch (error) {
        return { ok: false, error };
      }
    }),
  );
  for (const [i, c] of selected.entries()) {
    const sub = submitted[i] as Submitted;
    await t.test(c.id, async (st) => {
      if (!sub.ok) {
        st.fail(`submit ${c.task} failed: ${String((sub.error as Error)?.message ?? sub.error)}`);
        return;
      }
      const expect = typeof c.expect === 'function' ? c.expect(opts) : c.expect;
      let outcome: { ok: true; value: unknown } | { ok: false; error: Error };
      try {
        outcome = { ok: true, value: await client.result(sub.id, { timeoutMs: resultTimeoutMs }) };
      } catch (error) {
        outcome = { ok: false, error: error as Error };
      }
      if (c.notBeforeMs !== undefined) {
        st.ok(Date.now() - sub.at >= c.notBeforeMs, `result not before ${c.notBeforeMs} ms`);
      }
      if ('error' in expect) {
        if (outcome.ok) {
          st.fail(`expected ${String(expect.error.type)} but ${c.task} returned ${JSON.stringify(outcome.value)}`);
          return;
        }
        st.match(outcome.error.name, expect.error.type, 'exception type');
        if (expect.error.message !== undefined) st.match(outcome.error.message, expect.error.message, 'message');
        return;
      }
      if (!outcome.ok) {
        st.fail(`${c.task} failed: ${outcome.error.name}: ${outcome.error.message}`);
        return;
      }
      if ('value' in expect) st.same(outcome.value, expect.value, 'result');
      else st.match(outcome.value, expect.match, 'result');
    });
  }
}
