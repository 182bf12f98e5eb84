// Child entry for --backend=temporal: the shared child runtime drives the lazily loaded Temporal backend.
import { runChild } from '../src/child/runtime.js';

runChild(async () => (await import('../src/backends/temporal/index.js')).createBackend());
