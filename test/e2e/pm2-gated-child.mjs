// Test-only child for the pm2 and systemd lifecycle tests (never a public backend): the real child runtime from
// dist/ with a backend whose start() waits until GATE_FILE exists, that always has one task in flight, and
// whose warm drain takes DRAIN_MS and then records `<DONE_DIR>/drained-<pid>` (proof the task could finish).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runChild } from '../../dist/src/child/runtime.js';
import { Registry } from '../../dist/src/tasks/registry.js';

const env = process.env;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function gatedBackend() {
  const stats = { active: 1, processed: 0, failed: 0, lastPollAt: null, slots: 1 };
  return {
    name: 'gated',
    async start() {
      while (env.GATE_FILE && !existsSync(env.GATE_FILE)) await sleep(20);
      stats.lastPollAt = Date.now();
    },
    async drain() {
      await sleep(Number(env.DRAIN_MS ?? 300));
      stats.active = 0;
      stats.processed += 1;
      if (env.DONE_DIR) writeFileSync(join(env.DONE_DIR, `drained-${process.pid}`), '');
    },
    async stop() {},
    stats() {
      stats.lastPollAt = Date.now();
      return { ...stats };
    },
  };
}

runChild(async () => gatedBackend(), { loadRegistry: async () => new Registry() });
