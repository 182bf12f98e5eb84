// Translations from the supervisor's vocabulary (snapshot, pool events) into the ops modules' own (PoolView,
// OpsEvent). Pure; the only place ops code knows the supervisor's shapes.
import type { PoolEventMap, PoolSnapshot } from '../supervisor/api.js';
import type { OpsEvent } from './metrics.js';
import type { ChildView, PoolView } from './view.js';

export interface PoolMeta {
  pid: number;
  backend: string;
  hostname: string;
  startedAt: number;
}

/** Pure: the PoolView of a snapshot; a slot waiting for its restart shows as a 'restarting' row. */
export function viewOf(snap: PoolSnapshot, meta: PoolMeta): PoolView {
  const children: ChildView[] = snap.children.map((c) => ({
    index: c.index,
    pid: c.pid,
    state: c.state,
    spawnedAt: c.startedAt,
    readyAt: c.readyAt,
    restarts: c.restarts,
    active: c.active ?? 0,
    processed: c.processed ?? 0,
    failed: c.failed ?? 0,
    lastPollAt: c.lastPollAt,
    rss: c.rss,
  }));
  for (let i = 0; i < snap.target && !snap.stopping; i++) {
    if (children.some((c) => c.index === i)) continue;
    children.push({
      index: i,
      pid: null,
      state: 'restarting',
      spawnedAt: null,
      readyAt: null,
      restarts: 0,
      active: 0,
      processed: 0,
      failed: 0,
      lastPollAt: null,
      rss: null,
    });
  }
  return { ...meta, phase: snap.phase, target: snap.target, children };
}

/** Pure: the metrics' view of pool events: exits by reason, restarts by why the predecessor went, heartbeats. */
export const exitOf = (e: PoolEventMap['childExited']): OpsEvent => ({
  type: 'exit',
  childId: e.id,
  code: e.code,
  signal: e.signal,
  reason: e.reason,
});
export const restartOf = (e: PoolEventMap['childReplaced']): OpsEvent => ({
  type: 'restart',
  slot: e.slot,
  reason: e.reason,
});
export const heartbeatOf = (e: PoolEventMap['childHeartbeat']): OpsEvent => ({
  type: 'heartbeat',
  childId: e.id,
  processed: e.processed,
  failed: e.failed,
  durations: e.durations,
  counts: e.counts,
});
