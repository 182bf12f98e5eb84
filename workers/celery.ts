// Entry of a Celery child: the shared child runtime with the Celery backend, loaded lazily.
import { runChild } from '../src/child/runtime.js';

runChild(async () => (await import('../src/backends/celery/index.js')).createBackend());
