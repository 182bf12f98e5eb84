// The per-child heap limit is pure arithmetic on the shared memory and the number of children.
import t from 'tap';
import { autoHeapMiB, availableMemory, childHeapMiB, withHeapLimit } from '../../src/supervisor/heap.js';
import type { WorkerConfig } from '../../src/config/types.js';

const GiB = 2 ** 30;
const cfg = (over: Partial<WorkerConfig>): WorkerConfig =>
  ({ concurrency: 2, autoscale: null, ...over }) as WorkerConfig;

void t.test('auto = half the memory over the children, clamped to [256, 4096] MiB', async (t) => {
  t.equal(autoHeapMiB(16 * GiB, 8), 1024);
  t.equal(autoHeapMiB(24 * GiB, 2), 4096, 'capped');
  t.equal(autoHeapMiB(1 * GiB, 16), 256, 'floored');
  t.equal(autoHeapMiB(4 * GiB, 0), 2048, 'zero children counts as one');
});

void t.test('the setting wins; auto uses the most children the pool may run', async (t) => {
  t.equal(childHeapMiB(cfg({ childMaxHeapMiB: 300 }), 16 * GiB), 300);
  t.equal(childHeapMiB(cfg({ childMaxHeapMiB: null, concurrency: 2, autoscale: { max: 8, min: 2 } }), 16 * GiB), 1024);
  t.equal(childHeapMiB(cfg({ concurrency: 4 }), 16 * GiB), 2048, 'absent setting = auto');
});

void t.test('execArgv gets the flag unless it has one', async (t) => {
  t.same(withHeapLimit(['--enable-source-maps'], 512), ['--enable-source-maps', '--max-old-space-size=512']);
  t.same(withHeapLimit(['--max_old_space_size=100'], 512), ['--max_old_space_size=100']);
});

void t.test('a cgroup limit below RAM is the memory to share', async (t) => {
  t.equal(availableMemory(24 * GiB, 2 * GiB), 2 * GiB);
  t.equal(availableMemory(24 * GiB, 2 ** 64), 24 * GiB, 'no limit reads as a huge number');
  t.equal(availableMemory(24 * GiB, undefined), 24 * GiB);
  t.equal(availableMemory(24 * GiB, 0), 24 * GiB);
});
