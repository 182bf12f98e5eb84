// Test-only child for supervisor-prefetch.test.ts: the backend module cannot be imported. The runtime starts
// loading it before `init` arrives, so the failure happens before the child knows its config.
import { runChild } from '../../dist/src/child/runtime.js';
import { Registry } from '../../dist/src/tasks/registry.js';

runChild(async () => (await import('./no-such-backend-module.mjs')).createBackend(), {
  loadRegistry: async () => new Registry(),
});
