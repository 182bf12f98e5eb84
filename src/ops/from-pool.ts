// Translations from the supervisor's vocabulary (snapshot, reduced events) into the ops modules' own
// (PoolView, OpsEvent). Pure; the only place ops code knows the supervisor's state shape.
import type { PoolSnapshot } from '../supervisor/driver.js';
import type { ChildRecord, PoolEvent, PoolState } from '../supervisor/types.js';
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
  const stopping = snap.phase.startsWith('stopping') || snap.phase === 'exited';
  for (let i = 0; i < snap.target && !stopping; i++) {
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

/** Pure: why a child went, from its record just before its exit was reduced. */
export function exitReason(c: ChildRecord, poolStopping: boolean): string {
  if (c.killReason !== null) return c.killReason;
  if (c.retireReason !== null) return c.retireReason;
  if (c.fatal !== null || c.phase === 'starting') return 'boot-failure';
  if (poolStopping) return 'shutdown';
  return 'crash';
}

function stopping(s: PoolState): boolean {
  return s.phase === 'stopping-warm' || s.phase === 'stopping-cold' || s.phase === 'exited';
}

/**
 * Pure: the ops events one reduced pool event stands for. `lastExit` remembers, per slot, why its previous
 * child went, so the replacement's restart is counted under that reason (the caller keeps the map).
 */
export function opsEventsOf(
  e: PoolEvent,
  before: PoolState,
  after: PoolState,
  lastExit: Map<number, string>,
): OpsEvent[] {
  const out: OpsEvent[] = [];
  if (e.type === 'childExit') {
    const c = before.children.find((x) => x.id === e.id);
    if (c !== undefined) {
      const reason = exitReason(c, stopping(before));
      lastExit.set(c.slot, reason);
      out.push({ type: 'exit', childId: e.id, code: e.code, signal: e.signal, reason });
    }
  } else if (e.type === 'childMessage' && e.msg.type === 'heartbeat') {
    out.push({
      type: 'heartbeat',
      childId: e.id,
      processed: e.msg.processed,
      failed: e.msg.failed,
      durations: e.msg.durations,
    });
  }
  // A child that appeared in a slot that already had one is a restart (replacement or rolling restart).
  const known = new Set(before.children.map((c) => c.id));
  for (const c of after.children) {
    if (known.has(c.id)) continue;
    const slot = after.slots.find((s) => s.index === c.slot);
    if (slot === undefined || slot.spawns <= 1) continue;
    // A planned replacement marks the outgoing child in the same reduction that forks its successor.
    const outgoing = after.children.find((o) => o.slot === c.slot && o.id !== c.id && o.retireReason !== null);
    out.push({ type: 'restart', slot: c.slot, reason: outgoing?.retireReason ?? lastExit.get(c.slot) ?? 'unknown' });
  }
  return out;
}
