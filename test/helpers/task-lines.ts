// The per-task log lines a pool wrote while the conformance fixtures ran (test/fixtures/tasks/conformance.mjs), read
// back from its NDJSON output: the same checks on every backend, robust to a task having run more than once.
import type { Test } from 'tap';

type Line = Record<string, unknown>;

export function checkTaskLines(t: Test, lines: readonly Line[]): void {
  const of = (msg: string, task: string): Line[] => lines.filter((l) => l.msg === msg && l.task === task);

  const added = of('task succeeded', 'add_numbers');
  t.ok(
    added.some((l) => l.result === '5'),
    'add_numbers: "succeeded" with the repr of its result',
  );
  t.ok(
    added.every(
      (l) => l.level === 30 && typeof l.runtime === 'number' && l.runtime >= 0 && typeof l.taskId === 'string',
    ),
    'succeeded lines: INFO, with the runtime in seconds and the task id',
  );

  const flakyOk = of('task succeeded', 'conformance_flaky');
  const flakyRetry = of('task retry', 'conformance_flaky');
  t.ok(flakyOk.length >= 1, `conformance_flaky succeeded (${flakyOk.length} runs)`);
  t.ok(
    flakyOk.every((l) => l.result === "{'attempt': 3}"),
    'with its result',
  );
  t.equal(flakyRetry.length, 2 * flakyOk.length, 'two retry lines per run (attempts 1 and 2)');
  t.ok(
    flakyRetry.every((l) => l.excType === 'ConnectionError' && typeof l.countdown === 'number' && l.countdown > 0),
    'each retry line: the exception and the countdown',
  );

  const failed = of('task failed', 'conformance_always_fails');
  t.ok(failed.length >= 1, 'conformance_always_fails: a failure line');
  t.ok(
    failed.every((l) => l.level === 50 && l.excType === 'RuntimeError' && l.excMessage === 'always fails (attempt 2)'),
    'at ERROR, with the exception type and message of the last attempt',
  );
  t.equal(of('task retry', 'conformance_always_fails').length, failed.length, 'after one retry line each');

  const received = new Set(lines.filter((l) => l.msg === 'task received').map((l) => l.taskId));
  const settled = lines.filter((l) => l.msg === 'task succeeded' || l.msg === 'task failed' || l.msg === 'task retry');
  t.ok(
    settled.every((l) => received.has(l.taskId)),
    `every task that ran was "received" first (${received.size} received)`,
  );
}
