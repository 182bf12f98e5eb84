// The read-only picture of the pool that every operations surface shares (status socket, metrics, health,
// systemd STATUS=), plus the pure health verdict. Built from the supervisor's state by from-pool.ts.

export interface ChildView {
  /** Pool slot (0..N-1). */
  index: number;
  pid: number | null;
  /** The supervisor's child phase: starting | ready | draining | stopping | killed, or 'restarting' (no process). */
  state: string;
  spawnedAt: number | null;
  readyAt: number | null;
  /** Times this slot's child was replaced since the pool started. */
  restarts: number;
  active: number;
  processed: number;
  failed: number;
  /** Epoch ms of the last successful broker/server poll the child reported. */
  lastPollAt: number | null;
  /** Resident set size in bytes from the last heartbeat (status refreshes it with pidusage). */
  rss: number | null;
}

export interface PoolView {
  pid: number;
  backend: string;
  hostname: string;
  /** The supervisor's pool phase: starting | running | stopping-warm | stopping-cold | exited. */
  phase: string;
  startedAt: number;
  /** Wanted number of children. */
  target: number;
  children: ChildView[];
}

export interface Health {
  healthy: boolean;
  /** One short sentence per problem, e.g. "child 2 stalled: no successful poll for 95 s". */
  reasons: string[];
}

/** Pure: is the pool serving? Healthy = running, every slot has a ready child, and every ready child polls. */
export function assessHealth(view: PoolView, now: number, stallMs: number): Health {
  const reasons: string[] = [];
  if (view.phase !== 'running') reasons.push(`pool is ${view.phase}`);
  const ready = view.children.filter((c) => c.state === 'ready');
  if (ready.length < view.target) reasons.push(`${ready.length}/${view.target} children ready`);
  for (const c of ready) {
    const since = c.lastPollAt ?? c.readyAt ?? c.spawnedAt ?? now;
    const silentMs = now - since;
    if (silentMs > stallMs) {
      reasons.push(`child ${c.index} stalled: no successful poll for ${Math.round(silentMs / 1000)} s`);
    }
  }
  return { healthy: reasons.length === 0, reasons };
}

/** Pure: the one-line summary used for systemd STATUS= and the status command header. */
export function summaryLine(view: PoolView): string {
  const ready = view.children.filter((c) => c.state === 'ready').length;
  let processed = 0;
  let failed = 0;
  let active = 0;
  for (const c of view.children) {
    processed += c.processed;
    failed += c.failed;
    active += c.active;
  }
  return `${view.phase}: ${ready}/${view.target} children ready, ${active} active, ${processed} processed, ${failed} failed`;
}
