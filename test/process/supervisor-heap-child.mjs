// Test-only child for supervisor-heap.test.ts: the real child runtime with a backend that logs this process's
// V8 heap limit, its execArgv and Error.stackTraceLimit (set by a V8 flag) once it starts.
import { getHeapStatistics } from 'node:v8';
import { runChild } from '../../dist/src/child/runtime.js';
import { Registry } from '../../dist/src/tasks/registry.js';

runChild(
  async () => ({
    name: 'heap-probe',
    async start(ctx) {
      const heapLimit = getHeapStatistics().heap_size_limit;
      ctx.logger.info({ heapLimit, execArgv: process.execArgv, stackTraceLimit: Error.stackTraceLimit }, 'heap probe');
    },
    async drain() {},
    async stop() {},
    stats: () => ({ active: 0, processed: 0, failed: 0, lastPollAt: Date.now(), slots: 1 }),
  }),
  { loadRegistry: async () => new Registry() },
);
