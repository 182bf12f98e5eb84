// Pool size changes that follow from events: the HUP rolling restart (one slot at a time, the replacement
// ready before the old child drains) and --autoscale (grow when every child is busy, shrink after idling).
import {
  type Cx,
  addSlot,
  checkPoolReady,
  emit,
  findChild,
  isStopping,
  log,
  removeSlot,
  retire,
  spawnChild,
} from './pool-ops.js';

export function startRolling(cx: Cx): void {
  const restarting = cx.s.rolling !== null;
  cx.s.rolling = { pending: cx.s.slots.map((sl) => sl.index), active: null };
  log(cx, 'info', 'rolling restart started', { children: cx.s.slots.length, restarted: restarting });
  emit(cx, { type: 'rollingRestartStarted', children: cx.s.slots.length });
  advanceRolling(cx);
}

/** Move the rolling restart on when the slot being replaced is done (new child ready, old one gone). */
export function advanceRolling(cx: Cx): void {
  const s = cx.s;
  const r = s.rolling;
  if (r === null || isStopping(s)) return;
  if (r.active !== null) {
    const slot = s.slots.find((sl) => sl.index === r.active);
    const cur = slot && slot.current !== null ? findChild(s, slot.current) : undefined;
    const outgoing = s.children.some((c) => c.slot === r.active && c.retireReason === 'reload');
    if (slot && (cur?.phase !== 'ready' || outgoing)) return;
    r.active = null;
  }
  while (r.pending.length > 0) {
    const index = r.pending.shift() as number;
    const slot = s.slots.find((sl) => sl.index === index);
    if (!slot) continue;
    r.active = index;
    const cur = slot.current === null ? undefined : findChild(s, slot.current);
    if (cur) retire(cx, cur, 'reload', true);
    else spawnChild(cx, slot);
    return;
  }
  s.rolling = null;
  log(cx, 'info', 'rolling restart complete', { children: s.slots.length });
  emit(cx, { type: 'rollingRestartDone', children: s.slots.length });
}

/** Grow by one when every ready child reports all its slots busy and nothing is starting. */
export function autoscaleOnHeartbeat(cx: Cx): void {
  const s = cx.s;
  const a = s.autoscale;
  if (a === null || s.phase !== 'running' || s.slots.length >= a.max) return;
  const current = s.slots.map((sl) => (sl.current === null ? undefined : findChild(s, sl.current)));
  if (current.some((c) => c === undefined || c.phase !== 'ready' || c.heartbeat === null)) return;
  const allBusy = current.every((c) => c !== undefined && (c.heartbeat?.active ?? 0) >= Math.max(1, c.capacity));
  if (allBusy) addSlot(cx, 'autoscale: every child busy');
}

/** Shrink by one when a child has been idle for the keepalive and the pool is above its minimum. */
export function autoscaleOnTick(cx: Cx): void {
  const s = cx.s;
  const a = s.autoscale;
  if (a === null || s.phase !== 'running' || s.slots.length <= a.min) return;
  const keepalive = s.opts.autoscaleKeepaliveMs;
  const idle = s.children.some(
    (c) => c.phase === 'ready' && c.retireReason === null && c.idleSince !== null && c.idleSince + keepalive <= cx.now,
  );
  if (!idle) return;
  removeSlot(cx, 'autoscale: idle');
  // Reset idle clocks so the next shrink waits another keepalive.
  for (const c of s.children) if (c.idleSince !== null) c.idleSince = cx.now;
}

/**
 * New autoscale bounds (Celery's Autoscaler.update): a lower max shrinks the pool to it, a higher min grows it to
 * it. A pool started without --autoscale has none to change: the caller answers Celery's "Autoscale not enabled".
 */
export function updateAutoscale(cx: Cx, max: number | null, min: number | null): void {
  const s = cx.s;
  const a = s.autoscale;
  if (a === null || isStopping(s)) {
    log(cx, 'warn', 'autoscale update ignored', { reason: a === null ? 'autoscale not enabled' : s.phase });
    return;
  }
  const ceiling = s.opts.maxChildren;
  if ((max ?? 0) > ceiling || (min ?? 0) > ceiling)
    log(cx, 'warn', 'autoscale bound above the pool ceiling', { max, min, ceiling });
  if (max !== null) {
    a.max = Math.max(1, Math.min(max, ceiling));
    while (s.slots.length > a.max && removeSlot(cx, 'autoscale: new max'));
  }
  if (min !== null) {
    a.min = Math.max(1, Math.min(min, a.max, ceiling));
    while (s.slots.length < a.min) addSlot(cx, 'autoscale: new min');
  }
  a.min = Math.min(a.min, a.max);
  log(cx, 'info', 'autoscale bounds changed', { max: a.max, min: a.min, children: s.slots.length });
  checkPoolReady(cx);
}
