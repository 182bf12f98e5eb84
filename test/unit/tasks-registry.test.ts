// defineTask/defineWorkflow reject bad definitions early; the registry refuses duplicates and answers by kind.
import t from 'tap';
import { dagOrder, defineTask, defineWorkflow, isDefinition } from '../../src/tasks/define.js';
import { Registry } from '../../src/tasks/registry.js';

const run = (): number => 1;

void t.test('defineTask normalises and freezes', async (t) => {
  const d = defineTask({
    name: 'a.b:c-d_1',
    run,
    retries: 2,
    retryBackoff: { initialMs: 5 },
    timeout: 100,
    queue: 'q',
  });
  t.match(d, { kind: 'task', name: 'a.b:c-d_1', retries: 2, timeoutMs: 100, queue: 'q' });
  t.same(d.retryBackoff, { initialMs: 5, factor: 2, maxMs: 60_000 });
  t.ok(Object.isFrozen(d) && Object.isFrozen(d.retryBackoff));
  t.equal(defineTask({ name: 'x', run }).retries, 0);
  t.ok(isDefinition(d));
  t.notOk(isDefinition({ kind: 'job', name: 'x' }));
});

void t.test('defineTask rejects bad options', async (t) => {
  t.throws(() => defineTask({ name: '1bad', run }), /task name must match/);
  t.throws(() => defineTask({ name: 'has space', run }), /task name must match/);
  t.throws(() => defineTask({ name: 'x', run: 5 as unknown as typeof run }), /run must be a function/);
  t.throws(() => defineTask({ name: 'x', run, retries: -1 }), /retries must be an integer >= 0/);
  t.throws(() => defineTask({ name: 'x', run, retries: 1.5 }), /retries must be an integer >= 0/);
  t.throws(() => defineTask({ name: 'x', run, timeout: 0 }), /timeout must be > 0 ms/);
});

void t.test('defineWorkflow validates steps and DAGs', async (t) => {
  t.equal(defineWorkflow({ name: 'w', steps: [{ task: 'a' }, { parallel: [{ task: 'b' }] }] }).kind, 'workflow');
  t.throws(() => defineWorkflow({ name: 'w', steps: [] }), /steps must not be empty/);
  t.throws(() => defineWorkflow({ name: 'w', steps: [{ parallel: [] }] }), /a parallel step needs branches/);
  t.throws(() => defineWorkflow({ name: 'w', steps: { dag: {} } }), /dag must not be empty/);
  t.throws(
    () => defineWorkflow({ name: 'w', steps: { dag: { a: { task: 't', parents: ['z'] } } } }),
    /node a has unknown parent z/,
  );
  t.throws(
    () =>
      defineWorkflow({
        name: 'w',
        steps: { dag: { a: { task: 't', parents: ['b'] }, b: { task: 't', parents: ['a'] } } },
      }),
    /dag has a cycle/,
  );
  t.throws(() => defineWorkflow({ name: 'w', steps: 'x' as never }), /steps must be an array or \{dag/);
  t.same(dagOrder('w', { d: { parents: ['b', 'c'] }, b: { parents: ['a'] }, c: { parents: ['a'] }, a: {} }), [
    'a',
    'b',
    'c',
    'd',
  ]);
});

void t.test('registry', async (t) => {
  const r = new Registry();
  const task = defineTask({ name: 'z_task', run });
  const wf = defineWorkflow({ name: 'a_flow', steps: [{ task: 'z_task' }] });
  r.add(task, '/m.mjs').add(wf, '/m.mjs');
  t.same(r.names(), ['a_flow', 'z_task'], 'sorted');
  t.equal(r.task('z_task'), task);
  t.equal(r.task('a_flow'), undefined, 'task() only answers tasks');
  t.equal(r.workflow('a_flow'), wf);
  t.equal(r.get('a_flow'), wf);
  t.ok(r.has('z_task'));
  t.notOk(r.has('nope'));
  t.same(r.tasks(), [task]);
  t.same(r.workflows(), [wf]);
  t.equal(r.origin('z_task'), '/m.mjs');
  t.throws(() => r.add(defineTask({ name: 'z_task', run }), '/other.mjs'), {
    message: 'duplicate task name "z_task" (from /other.mjs; already defined by /m.mjs)',
  });
});
