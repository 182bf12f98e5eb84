// The V8 heap limit of each child (issue 6: N children must not over-commit memory). Pure: the caller passes the
// machine's memory; the result becomes the children's `--max-old-space-size` flag.
import type { WorkerConfig } from '../config/types.js';

/** Share of the machine's memory all children's old spaces may take together (the rest: RSS beyond old space, OS). */
const SHARE = 0.5;
export const AUTO_HEAP_FLOOR_MIB = 256;
export const AUTO_HEAP_CAP_MIB = 4096;

/** Auto limit: half the memory split over the children, clamped to [256, 4096] MiB. */
export function autoHeapMiB(memoryBytes: number, children: number): number {
  const share = (memoryBytes * SHARE) / Math.max(1, children) / 2 ** 20;
  return Math.max(AUTO_HEAP_FLOOR_MIB, Math.min(AUTO_HEAP_CAP_MIB, Math.floor(share)));
}

/** The heap limit for this config: the setting when given, else auto for the most children the pool may run. */
export function childHeapMiB(config: WorkerConfig, memoryBytes: number): number {
  if (config.childMaxHeapMiB !== undefined && config.childMaxHeapMiB !== null) return config.childMaxHeapMiB;
  return autoHeapMiB(memoryBytes, Math.max(config.concurrency, config.autoscale?.max ?? 0));
}

/** execArgv for a child: the given flags plus the heap limit, unless the caller already set one (that wins). */
export function withHeapLimit(execArgv: readonly string[], heapMiB: number): string[] {
  if (execArgv.some((a) => a.startsWith('--max-old-space-size') || a.startsWith('--max_old_space_size')))
    return [...execArgv];
  return [...execArgv, `--max-old-space-size=${heapMiB}`];
}

/** Memory the children share: the cgroup limit when there is one (containers, systemd MemoryMax=), else RAM. */
export function availableMemory(total: number, constrained: number | undefined): number {
  return constrained !== undefined && constrained > 0 && constrained < total ? constrained : total;
}
