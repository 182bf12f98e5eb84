// Each child runs with an explicit V8 heap limit (--max-old-space-size): from --child-max-heap, or auto from the
// memory the children share; a limit the caller already put in execArgv wins. The --child-node-flags setting's
// flags reach every child and take effect there. Checked inside the child.
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { byMsg, ROOT, startPool } from './_helpers.js';

const PROBE = join(ROOT, 'test', 'process', 'supervisor-heap-child.mjs');
const MiB = 2 ** 20;

async function probe(
  t: Test,
  config: Parameters<typeof startPool>[2],
  deps: Parameters<typeof startPool>[3] = {},
): Promise<{ heapMiB: number; execArgv: string[]; stackTraceLimit: number }> {
  const pool = startPool(t, 'ok', { concurrency: 1, ...config }, { workerEntry: PROBE, ...deps });
  const line = await pool.waitFor(byMsg('heap probe'), 20_000);
  pool.h.signal('TERM');
  t.equal(await pool.h.done, 0, 'clean warm stop');
  return {
    heapMiB: Number(line.heapLimit) / MiB,
    execArgv: line.execArgv as string[],
    stackTraceLimit: Number(line.stackTraceLimit),
  };
}

// heap_size_limit = old space + young generation (a few semi-spaces), so allow a margin above the old-space flag.
const within = (got: number, want: number): boolean => got >= want && got <= want + 80;

void t.test('--child-max-heap sets the limit the child runs with', async (t) => {
  const r = await probe(t, { childMaxHeapMiB: 200 });
  t.ok(r.execArgv.includes('--max-old-space-size=200'), `child execArgv: ${r.execArgv.join(' ')}`);
  t.ok(within(r.heapMiB, 200), `heap limit ${r.heapMiB.toFixed(0)} MiB ≈ 200 MiB`);
});

void t.test('auto: half the shared memory over the children (autoscale max counts)', async (t) => {
  // 4 GiB shared, autoscale up to 4 children → 512 MiB each.
  const r = await probe(t, { childMaxHeapMiB: null, autoscale: { max: 4, min: 1 } }, { memoryBytes: 4 * 1024 * MiB });
  t.ok(r.execArgv.includes('--max-old-space-size=512'), `child execArgv: ${r.execArgv.join(' ')}`);
  t.ok(within(r.heapMiB, 512), `heap limit ${r.heapMiB.toFixed(0)} MiB ≈ 512 MiB`);
});

void t.test('a limit already in execArgv wins over the setting', async (t) => {
  const r = await probe(t, { childMaxHeapMiB: 200 }, { execArgv: ['--max-old-space-size=300'] });
  t.same(
    r.execArgv.filter((a) => a.startsWith('--max-old-space-size')),
    ['--max-old-space-size=300'],
  );
  t.ok(within(r.heapMiB, 300), `heap limit ${r.heapMiB.toFixed(0)} MiB ≈ 300 MiB`);
});

void t.test('--child-node-flags reach the child ahead of the heap limit, and node applies them', async (t) => {
  const flags = '--stack-trace-limit=7  --max-inlined-bytecode-size-cumulative=300';
  const r = await probe(t, { childMaxHeapMiB: 200, childNodeFlags: flags }, { execArgv: ['--stack-trace-limit=9'] });
  t.same(
    r.execArgv,
    [
      '--stack-trace-limit=7',
      '--max-inlined-bytecode-size-cumulative=300',
      '--stack-trace-limit=9',
      '--max-old-space-size=200',
    ],
    "setting, then the embedder's own, then the heap limit",
  );
  t.equal(r.stackTraceLimit, 9, "V8 applied the flags (the embedder's later one wins)");
  const plain = await probe(t, { childNodeFlags: '--stack-trace-limit=7' });
  t.equal(plain.stackTraceLimit, 7, "the setting's own value when nothing overrides it");
  const none = await probe(t, { childNodeFlags: null });
  t.notOk(
    none.execArgv.some((a) => a.startsWith('--stack-trace-limit') || a.startsWith('--max-inlined')),
    'none: no flags but the heap limit',
  );
});
