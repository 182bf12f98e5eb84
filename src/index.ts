// The package's library API: define tasks and workflows once, submit them to whichever backend is configured.
export * from './tasks/index.js';
export * from './client/index.js';
export type { WorkerConfig } from './config/types.js';
export type { WorkerBackend, BackendContext, BackendStats } from './backends/contract.js';
export { BootError } from './backends/contract.js';
export { EXIT, CHILD_EXIT } from './exit-codes.js';
