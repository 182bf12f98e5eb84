// What the supervisor tells systemd and when: READY=1 once every child is ready, STATUS= lines as the pool
// changes, WATCHDOG=1 only while the children are healthy, STOPPING=1 and EXTEND_TIMEOUT_USEC while draining.
// planTick is pure; SystemdReporter applies it with a timer and a Notifier (sd-notify.ts).
import type { Notifier, NotifyFields } from './sd-notify.js';
import { assessHealth, summaryLine, type PoolView } from './view.js';

export type LifecycleNotice = 'ready' | 'reloading' | 'stopping';

export interface TickInput {
  view: PoolView;
  now: number;
  stallMs: number;
  /** STATUS= text sent last, to send only changes. */
  lastStatus: string | null;
  watchdog: boolean;
  /** Epoch ms by which the pool will be gone (shutdown timeout + kill grace), while stopping. */
  stopDeadline: number | null;
  /** Margin added to every stop extension so systemd never kills a pool that is still on schedule. */
  stopMarginMs: number;
}

/** Pure: the fields to send on a periodic tick (empty object = nothing to send). */
export function planTick(input: TickInput): NotifyFields {
  const out: NotifyFields = {};
  const status = summaryLine(input.view);
  if (status !== input.lastStatus) out.STATUS = status;
  if (input.stopDeadline !== null) {
    // Relative to the time systemd receives it, so re-sending the remaining time never extends past the deadline.
    const remainingMs = Math.max(0, input.stopDeadline - input.now) + input.stopMarginMs;
    out.EXTEND_TIMEOUT_USEC = remainingMs * 1000;
  } else if (input.watchdog && assessHealth(input.view, input.now, input.stallMs).healthy) {
    out.WATCHDOG = 1;
  }
  return out;
}

/** Pure: the fields for a lifecycle notice from the supervisor. */
export function planLifecycle(
  what: LifecycleNotice,
  view: PoolView,
  now: number,
  stopDeadline: number,
  stopMarginMs: number,
  /** CLOCK_MONOTONIC in µs (process.hrtime is monotonic on Linux). */
  monotonicUsec: number,
): NotifyFields {
  switch (what) {
    case 'ready':
      return { READY: 1, STATUS: summaryLine(view), MAINPID: view.pid };
    case 'reloading':
      // MONOTONIC_USEC lets newer systemd match the reload with its RELOADING=1 bookkeeping.
      return { RELOADING: 1, MONOTONIC_USEC: monotonicUsec, STATUS: 'reloading: rolling restart of children' };
    case 'stopping':
      return {
        STOPPING: 1,
        STATUS: 'stopping: draining in-flight tasks',
        EXTEND_TIMEOUT_USEC: (Math.max(0, stopDeadline - now) + stopMarginMs) * 1000,
      };
    default: {
      const never: never = what;
      throw new Error(`unknown lifecycle notice ${String(never)}`);
    }
  }
}

export interface ReporterOptions {
  notifier: Notifier;
  view: () => PoolView;
  stallMs: number;
  /** WATCHDOG=1 cadence (half of WATCHDOG_USEC), or null when systemd runs no watchdog for us. */
  watchdogMs: number | null;
  /** STATUS= refresh cadence when there is no watchdog. */
  statusEveryMs: number;
  /** Warm shutdown budget + kill grace: how long a stop may take. */
  stopBudgetMs: number;
  stopMarginMs: number;
  now: () => number;
  /** Called with a constant message and fields when a datagram could not be sent. */
  onSendError: (fields: NotifyFields) => void;
}

export class SystemdReporter {
  private lastStatus: string | null = null;
  private stopDeadline: number | null = null;
  private ready = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: ReporterOptions) {}

  start(): void {
    if (this.opts.notifier.transport === 'none' || this.timer !== null) return;
    const every = Math.min(this.opts.watchdogMs ?? this.opts.statusEveryMs, this.opts.statusEveryMs);
    this.timer = setInterval(() => this.tick(), every);
    this.timer.unref();
  }

  notice(what: LifecycleNotice): void {
    const now = this.opts.now();
    if (what === 'stopping') {
      if (this.stopDeadline !== null) return;
      this.stopDeadline = now + this.opts.stopBudgetMs;
    }
    if (what === 'ready') this.ready = true;
    const mono = Number(process.hrtime.bigint() / 1000n);
    const fields = planLifecycle(what, this.opts.view(), now, this.stopDeadline ?? now, this.opts.stopMarginMs, mono);
    if (typeof fields.STATUS === 'string') this.lastStatus = fields.STATUS;
    this.send(fields);
  }

  tick(): void {
    const fields = planTick({
      view: this.opts.view(),
      now: this.opts.now(),
      stallMs: this.opts.stallMs,
      lastStatus: this.lastStatus,
      // The watchdog only runs once systemd has seen READY=1.
      watchdog: this.opts.watchdogMs !== null && this.ready,
      stopDeadline: this.stopDeadline,
      stopMarginMs: this.opts.stopMarginMs,
    });
    if (Object.keys(fields).length === 0) return;
    if (typeof fields.STATUS === 'string') this.lastStatus = fields.STATUS;
    this.send(fields);
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.opts.notifier.close();
  }

  private send(fields: NotifyFields): void {
    if (!this.opts.notifier.send(fields)) this.opts.onSendError(fields);
  }
}
