// Child entry for --backend hatchet: the shared child runtime drives a lazily loaded Hatchet backend.
import { runChild } from '../src/child/runtime.js';

runChild(async () => (await import('../src/backends/hatchet/index.js')).createBackend());
