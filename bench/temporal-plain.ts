// The plain contender of bench/temporal.ts: ONE plain @temporalio/worker process, no supervisor, with a hand-written
// workflow per task that calls the activity with EXACTLY the activity options our generic workflow uses
// (start-to-close, heartbeat timeout, retry policy from src/backends/temporal/meta.ts), so the server does the same
// work per activity for both; and the same Worker options as a child (src/backends/temporal/index.ts). What differs
// is listed in docs/temporal.md ("Benchmark").
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { activityOptionsFor, registryMeta } from '../src/backends/temporal/meta.js';
import { addNumbers, simulateWork } from '../src/tasks/builtins.js';

const ACTIVITY_OPTIONS = Object.fromEntries(
  Object.entries(registryMeta({ tasks: () => [addNumbers, simulateWork], workflows: () => [] }).tasks).map(
    ([name, meta]) => [name, activityOptionsFor(meta)],
  ),
);
const PLAIN_WORKFLOW = `import { proxyActivities } from '@temporalio/workflow';
const OPTIONS = ${JSON.stringify(ACTIVITY_OPTIONS)};
const { add_numbers: add } = proxyActivities(OPTIONS.add_numbers);
const { simulate_work: work } = proxyActivities(OPTIONS.simulate_work);
export async function add_numbers(args, kwargs) { return add(args, kwargs); }
export async function simulate_work(args, kwargs) { return work(args, kwargs); }
`;
const PLAIN_WORKER = `import { DefaultLogger, NativeConnection, Worker, Runtime } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
Runtime.install({ shutdownSignals: ['SIGTERM'], logger: new DefaultLogger('WARN') });
const [address, queue, slots, bundlePath] = process.argv.slice(2);
const activities = {
  add_numbers: async (args) => args[0] + args[1],
  simulate_work: async (args, kwargs) => {
    const duration = args[0] ?? kwargs?.duration ?? 1;
    const start = Date.now();
    await sleep(duration * 1000);
    const end = Date.now();
    return {
      requested_duration: duration, actual_duration: (end - start) / 1000, start_time: start / 1000, end_time: end / 1000,
      started_at: new Date(start).toISOString(), ended_at: new Date(end).toISOString(), status: 'completed',
    };
  },
};
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection, taskQueue: queue, workflowBundle: { code: readFileSync(bundlePath, 'utf8') }, activities,
  maxConcurrentActivityTaskExecutions: Number(slots), maxConcurrentWorkflowTaskExecutions: Number(slots),
  maxCachedWorkflows: 200, workflowThreadPoolSize: 1,
});
console.log(JSON.stringify({ msg: 'plain ready' }));
await worker.run();
`;

/** Writes the plain worker and its workflow bundle under `root`/.tbw/bench-temporal/; returns their paths. */
export async function preparePlain(root: string): Promise<{ script: string; bundle: string }> {
  // Under .tbw/ so the plain worker resolves @temporalio/* from this package's node_modules.
  const dir = join(root, '.tbw', 'bench-temporal');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'workflows.mjs'), PLAIN_WORKFLOW);
  writeFileSync(join(dir, 'worker.mjs'), PLAIN_WORKER);
  const bundle = join(dir, 'bundle.js');
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const { code } = await bundleWorkflowCode({ workflowsPath: join(dir, 'workflows.mjs'), logger: quietLogger() });
  writeFileSync(bundle, code);
  return { script: join(dir, 'worker.mjs'), bundle };
}

function quietLogger() {
  const nop = (): void => undefined;
  return { log: nop, trace: nop, debug: nop, info: nop, warn: nop, error: nop };
}
