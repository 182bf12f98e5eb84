// What one consumer holds, by where each message is: running, ready to start, waiting for a rate-limit token
// (keeping its prefetch slot, as in Celery), or waiting for its ETA (eta.ts). Bookkeeping only: the consumer
// decides what starts and when (consumer.ts); this answers what is held and takes messages out of it.
import { ChurnMap } from '../../util/churn-map.js';
import type { EtaHold } from './eta.js';
import type { Execution, Held } from './execute.js';

export class Holdings {
  readonly running = new ChurnMap<string, Execution>();
  readonly ready: Held[] = [];
  readonly waiting = new Set<Held>();

  constructor(private readonly eta: EtaHold) {}

  /** Everything held that has not started (ready, waiting for a token, waiting for its ETA), taken out. */
  takeUnstarted(): Held[] {
    const out = [...this.ready.splice(0), ...this.waiting, ...this.eta.takeAll()];
    this.waiting.clear();
    return out;
  }

  /** Unstarted messages `pick` chooses, taken out (remote revoke). */
  take(pick: (h: Held) => boolean): Held[] {
    const out = [...this.eta.take(pick), ...this.ready.filter(pick), ...[...this.waiting].filter(pick)];
    for (const h of out) {
      const i = this.ready.indexOf(h);
      if (i >= 0) this.ready.splice(i, 1);
      this.waiting.delete(h);
    }
    return out;
  }

  /**
   * The transport lost these deliveries (their channel closed; the broker redelivers them): unstarted ones are
   * dropped, every one is marked released (a late finish must not settle it). Returns how many ETA holds went.
   */
  drop(gone: ReadonlySet<string>): number {
    const eta = this.eta.drop(gone);
    const keep = (h: Held): boolean => {
      if (!gone.has(h.tag)) return true;
      h.released = true;
      return false;
    };
    this.ready.splice(0, this.ready.length, ...this.ready.filter(keep));
    for (const h of [...this.waiting]) if (!keep(h)) this.waiting.delete(h);
    for (const ex of this.running.values()) if (gone.has(ex.held.tag)) ex.held.released = true;
    return eta;
  }

  /** The running executions whose message `pick` chooses. */
  runningWhere(pick: (h: Held) => boolean): Execution[] {
    return [...this.running.values()].filter((ex) => pick(ex.held));
  }

  isRunning(h: Held): boolean {
    return this.running.get(h.tag)?.held === h;
  }

  /** What remote control's inspect active/reserved/scheduled show. */
  snapshot(): { running: { held: Held; started: number }[]; ready: Held[]; eta: Held[] } {
    return {
      running: [...this.running.values()].map((e) => ({ held: e.held, started: e.started })),
      ready: [...this.ready, ...this.waiting],
      eta: this.eta.list(),
    };
  }
}
