// What the child's per-task structures leave for V8's scavenges: each task's objects must die young once the task
// ends. A ChurnMap (held messages, running tasks) and the task context (ctx) are run through 300,000 tasks, 64 in
// flight, and V8's own count (--trace-gc-nvp: bytes promoted to the old generation at each scavenge) must stay a
// small share of what was allocated. With a plain Map, or a ctx built as an object literal with getters, this
// V8 (11.3, Node 20) promoted ~23 % and ~5 % (src/util/churn-map.ts, src/backends/celery/task-context.ts).
// The harness's own check: objects kept reachable past a few scavenges are counted as promoted.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from './_helpers.js';

const CHILD = join(ROOT, 'test', 'process', 'gc-churn-child.mjs');

/** Promoted bytes over allocated bytes across the scavenges after the first few (start-up). */
function promotedShare(mode: string): { share: number; scavenges: number } {
  // A fixed young generation (the size a busy child's grows to), so the run does not depend on V8's sizing.
  const r = spawnSync(process.execPath, ['--trace-gc-nvp', '--min-semi-space-size=16', CHILD, mode], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`${mode}: exited ${String(r.status)}: ${r.stderr}`);
  const scavenges = r.stdout
    .split('\n')
    .filter((l) => / gc=s /.test(l))
    .map((l) =>
      Object.fromEntries(
        l
          .trim()
          .split(/\s+/)
          .map((kv) => kv.split('=') as [string, string]),
      ),
    )
    .slice(4);
  let promoted = 0;
  let allocated = 0;
  for (const s of scavenges) {
    promoted += Number(s.promoted);
    allocated += Number(s.allocated);
  }
  if (!(allocated > 0)) throw new Error(`${mode}: no scavenge figures in the child's output`);
  return { share: promoted / allocated, scavenges: scavenges.length };
}

void t.test('the harness sees objects that outlive their scavenges', async (t) => {
  const r = promotedShare('retained');
  t.ok(r.scavenges >= 10, `${r.scavenges} scavenges measured`);
  t.ok(r.share > 0.2, `promoted ${(r.share * 100).toFixed(1)} % of what was allocated`);
});

void t.test('a ChurnMap entry dies with its task', async (t) => {
  const r = promotedShare('churn-map');
  t.ok(r.scavenges >= 10, `${r.scavenges} scavenges measured`);
  t.ok(r.share < 0.05, `promoted ${(r.share * 100).toFixed(1)} % of what was allocated (a plain Map: ~23 %)`);
});

void t.test('a task context dies with its task', async (t) => {
  const r = promotedShare('context');
  t.ok(r.scavenges >= 10, `${r.scavenges} scavenges measured`);
  t.ok(r.share < 0.02, `promoted ${(r.share * 100).toFixed(1)} % of what was allocated (an object literal: ~5 %)`);
});
