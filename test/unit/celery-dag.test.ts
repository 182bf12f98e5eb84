// DAG workflows as Celery canvas: layering, the canvas shape Python Celery can carry, and the internal
// select/merge tasks that move node outputs between layers. (The e2e tests run the same canvas for real.)
import t from 'tap';
import {
  COLLECT_TASK,
  DAG_MERGE_TASK,
  DAG_SELECT_TASK,
  dagCanvas,
  dagLayers,
  dagMerge,
  dagSelect,
  internalTask,
} from '../../src/backends/celery/dag.js';
import type { Sig } from '../../src/backends/celery/protocol.js';
import type { DagNode } from '../../src/tasks/types.js';

const diamond: Record<string, DagNode> = {
  a: { task: 'add_numbers' },
  b: { task: 'add_numbers', parents: ['a'], args: [10] },
  c: { task: 'format_result_message', parents: ['a'] },
  d: { task: 'join', parents: ['b', 'c'] },
};

void t.test('layers by depth, a skip-layer parent counts by its deepest parent', async (t) => {
  t.same(dagLayers('w', diamond), [['a'], ['b', 'c'], ['d']]);
  const skip = {
    a: { task: 'x' },
    b: { task: 'x', parents: ['a'] },
    c: { task: 'x', parents: ['a', 'b'] },
    r: { task: 'x' },
  };
  t.same(dagLayers('w', skip), [['a', 'r'], ['b'], ['c']]);
  t.throws(() => dagLayers('w', { a: { task: 'x', parents: ['b'] }, b: { task: 'x', parents: ['a'] } }), /cycle/);
});

void t.test(
  'canvas: a chain of chords, roots immutable with the workflow args, the last body carries the id',
  async (t) => {
    const c = dagCanvas('w', diamond, { args: [2, 3], kwargs: { k: 1 }, resultId: 'wf-id' });
    t.equal(c.subtask_type, 'chain');
    const chords = (c.kwargs?.tasks ?? []) as Sig[];
    t.equal(chords.length, 3, 'one chord per layer');
    for (const ch of chords) t.equal(ch.subtask_type, 'chord');
    const header = (i: number): Sig[] => (chords[i]?.kwargs?.header ?? []) as Sig[];
    const body = (i: number): Sig => chords[i]?.kwargs?.body as Sig;

    t.match(
      header(0),
      [{ task: 'add_numbers', args: [2, 3], kwargs: { k: 1 }, immutable: true }],
      'root gets the workflow args',
    );
    t.match(body(0), { task: DAG_MERGE_TASK, kwargs: { names: ['a'], carry: false }, options: {} });
    t.notOk(body(0).options?.task_id, 'only the last body has an id');

    const h1 = header(1);
    t.equal(h1[0]?.task, COLLECT_TASK, 'the state is carried through header position 0');
    t.match(h1[1], {
      subtask_type: 'chain',
      kwargs: {
        tasks: [
          { task: DAG_SELECT_TASK, kwargs: { parents: ['a'] } },
          { task: 'add_numbers', args: [10] },
        ],
      },
    });
    t.match(body(2), {
      task: DAG_MERGE_TASK,
      kwargs: { names: ['d'], carry: true, sinks: ['d'] },
      options: { task_id: 'wf-id' },
    });
    t.same(JSON.parse(JSON.stringify(c)), c, 'plain JSON: a Python worker can carry it');

    const single = dagCanvas('w', { only: { task: 'echo' } }, { args: ['x'], kwargs: {}, resultId: 'id1' });
    t.equal(single.subtask_type, 'chord', 'one layer is one chord');
    t.match(single.kwargs?.body, { options: { task_id: 'id1' }, kwargs: { sinks: ['only'] } });
  },
);

void t.test('select and merge: DagNode input semantics', async (t) => {
  const state = { a: 5, b: 15, c: 'Result is 5' };
  t.equal(dagSelect([state], { parents: ['a'] }), 5, 'one parent → its output');
  t.same(dagSelect([state], { parents: ['b', 'c'] }), { b: 15, c: 'Result is 5' }, 'several → map');
  t.throws(() => dagSelect(['nope'], { parents: ['a'] }), { name: 'InvalidTaskError' });

  t.same(dagMerge([[5]], { names: ['a'], carry: false }), { a: 5 });
  t.same(dagMerge([[{ a: 5 }, 15, 'x']], { names: ['b', 'c'], carry: true }), { a: 5, b: 15, c: 'x' });
  t.equal(dagMerge([[{ a: 5 }, 'out']], { names: ['d'], carry: true, sinks: ['d'] }), 'out', 'one sink → its output');
  t.same(dagMerge([[{ a: 1 }, 'X', 'Y']], { names: ['x', 'y'], carry: true, sinks: ['x', 'y'] }), { x: 'X', y: 'Y' });
  t.throws(() => dagMerge([[1, 2]], { names: ['a'], carry: false }), { name: 'InvalidTaskError' }, 'count mismatch');

  t.equal(internalTask(COLLECT_TASK)?.([7], {}), 7, 'collect is the identity');
  t.equal(internalTask('add_numbers'), undefined, 'registry tasks are not internal');
});

void t.test(
  'internal tasks take wire input as strictly as user tasks: no prototype reachable by a node name',
  async (t) => {
    const merged = dagMerge([['polluted']], { names: ['__proto__'], carry: false }) as Record<string, unknown>;
    t.equal(Object.getPrototypeOf(merged), Object.prototype, 'the state keeps its prototype');
    t.same(Object.keys(merged), ['__proto__'], 'the node is an own property');
    t.equal(JSON.parse(JSON.stringify(merged)).__proto__, 'polluted', 'and its output travels on');
    const carried = JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as Record<string, unknown>;
    t.same(Object.keys(dagMerge([[carried, 3]], { names: ['b'], carry: true }) as object), ['__proto__', 'a', 'b']);
    t.equal(dagSelect([{ a: 1 }], { parents: ['constructor'] }), null, 'an inherited name selects nothing');
    t.equal(dagSelect([{ a: 1 }], { parents: ['__proto__'] }), null);
    t.throws(
      () => dagMerge([[1]], { names: [1], carry: false }),
      { name: 'InvalidTaskError' },
      'names must be strings',
    );
    t.throws(() => dagSelect([{}], { parents: 'a' }), { name: 'InvalidTaskError' }, 'parents must be a list');
    t.throws(() => dagMerge([[1]], { names: ['a'], carry: false, sinks: 'a' }), { name: 'InvalidTaskError' });
  },
);
