// The supervisor's published vocabulary, types only: what a pool extension (a backend's pool-side half) and the
// ops layer may know of the pool. The one module under src/supervisor that code outside it may import.
export type { ChildSnapshot, PoolSnapshot } from './driver.js';
export type { PoolExtension, PoolHandle, Unsubscribe } from './handle.js';
export type { ExitReason, PoolEvent, PoolEventMap, PoolEventName, PoolSignal } from './types.js';
