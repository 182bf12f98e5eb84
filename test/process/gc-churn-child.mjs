// Test-only child for gc-churn.test.ts: 64 "tasks" in flight at a time, each with a few KB of objects, run through
// one of the child's per-task structures (argv[2]), under --trace-gc-nvp. What V8 promotes out of the young
// generation at each scavenge is what the structure kept alive past its task.
//   churn-map  each task's graph is a ChurnMap value, deleted when the task ends (the held messages, the tasks
//              running)
//   context    each task builds its CeleryTaskContext (the `ctx` a task's run() gets)
//   retained   the harness's own check: every task's graph stays reachable for 4,000 tasks after it ends, so it
//              must be promoted
import { ChurnMap } from '../../dist/src/util/churn-map.js';
import { CeleryTaskContext } from '../../dist/src/backends/celery/task-context.js';

const mode = process.argv[2];
// Long enough for the nepotism to set in: a plain Map promoted nothing for the first ~30,000 tasks here.
const TASKS = 300_000;
const IN_FLIGHT = 64;
const logger = { child: (b) => ({ ...b }) };

const map = new ChurnMap();
const kept = [];
const inFlight = [];
let n = 0;

function start() {
  const id = `task-${++n}`;
  const graph = { id, parts: Array.from({ length: 40 }, (_, i) => ({ i, text: `${id}:${i}` })) };
  if (mode === 'churn-map') map.set(id, graph);
  if (mode === 'context') {
    const source = { controller: new AbortController() };
    graph.ctx = new CeleryTaskContext({ id, task: 'noop', retries: 0, redelivered: false }, 'w@h', source, logger);
    if (graph.ctx.taskId !== id) throw new Error('context lost its task id');
  }
  if (mode === 'retained') {
    kept.push(graph);
    if (kept.length > 4000) kept.shift();
  }
  inFlight.push(id);
}

function end() {
  const id = inFlight.shift();
  if (mode === 'churn-map' && !map.delete(id)) throw new Error(`${id} was not held`);
}

// In turns of the event loop, as a child's deliveries arrive (with one turn for all of them, a plain Map promoted
// nothing here either).
const TURN = 50;
for (let i = 0; i < IN_FLIGHT; i++) start();
let done = 0;
function turn() {
  for (let i = 0; i < TURN; i++) {
    end();
    start();
  }
  done += TURN;
  if (done < TASKS) setImmediate(turn);
  else if (mode === 'churn-map' && map.size !== IN_FLIGHT) throw new Error(`held ${map.size}, expected ${IN_FLIGHT}`);
}
turn();
