// Who holds what on this node: every consuming child registers in `tbw.holders.<host>` (field `<slot>.<pid>`,
// refreshed at every maintenance tick, so a broker that lost its data learns it again), and a dead child's held
// messages go back to their queues at once instead of after the visibility timeout. Its supervisor does that on
// the child's exit, naming why it died (`restoreHolder`); a sibling or the next pool does it when the supervisor
// is gone too or has not managed within HOLDER_STALE_MS (`restoreDead`). Only messages that were RUNNING (held,
// not parked) are charged as lost-worker deliveries.
import { heldKeyOf, parkedKeyOf, type Broker } from './redis-broker.js';

/** A dead holder whose supervisor is alive is left to that supervisor this long after its last refresh. */
export const HOLDER_STALE_MS = 30_000;

interface HolderEntry {
  pid: number;
  index: number;
  since: number;
  /** The pool's supervisor, which restores the holder's messages when it dies. */
  ppid?: number;
  /** Last refresh, epoch ms. */
  at?: number;
}

function parseEntry(raw: string): HolderEntry | null {
  try {
    const e = JSON.parse(raw) as Partial<HolderEntry>;
    return typeof e.pid === 'number' ? (e as HolderEntry) : null;
  } catch {
    return null;
  }
}

export interface RestoredHolder {
  restored: number;
  /** Of those, how many were running and were charged a lost-worker delivery. */
  charged: number;
}

export class Holders {
  #since: number | null = null;

  constructor(
    private readonly broker: Broker,
    private readonly self: { index: number; pid: number; ppid: number },
  ) {}

  /** Announce (or refresh) this child as a holder, so others can restore its messages when it dies. */
  async register(nowMs: number): Promise<void> {
    this.#since ??= nowMs;
    const entry: HolderEntry = {
      pid: this.self.pid,
      index: this.self.index,
      since: this.#since,
      ppid: this.self.ppid,
      at: nowMs,
    };
    await this.broker.redis.hset(this.broker.holdersKey, this.broker.holderField, JSON.stringify(entry));
  }

  /** Leave the index once nothing is held any more (a clean stop gave everything back). */
  async unregister(): Promise<void> {
    const b = this.broker;
    const left = await b.redis.scard(b.heldKey);
    if (left === 0) await b.redis.multi().hdel(b.holdersKey, b.holderField).del(b.parkedKey).exec();
  }

  /**
   * Give back everything holder `field` (`<slot>.<pid>`) held; the running ones are charged with `lost` (why it
   * died) unless `lost` is null (its messages were not its fault, e.g. it already settled its task).
   */
  async restoreHolder(field: string, lost: string | null): Promise<RestoredHolder> {
    const b = this.broker;
    const host = b.opts.hostname;
    const heldKey = heldKeyOf(host, field);
    const parkedKey = parkedKeyOf(host, field);
    const parked = new Set((await b.redis.smembersBuffer(parkedKey)).map((t) => t.toString('hex')));
    let restored = 0;
    let charged = 0;
    for (const tag of await b.redis.smembersBuffer(heldKey)) {
      const running = !parked.has(tag.toString('hex'));
      const charge = running ? lost : null;
      if (await b.restore(tag, { heldKey, parkedKey, lost: charge })) {
        restored++;
        if (charge !== null) charged++;
      }
    }
    await b.redis.multi().del(heldKey, parkedKey).hdel(b.holdersKey, field).exec();
    return { restored, charged };
  }

  /**
   * Restore every dead child of this node whose supervisor will not: it is dead too (or unknown), or the holder
   * has not been refreshed for HOLDER_STALE_MS. Returns how many messages went back.
   */
  async restoreDead(isAlive: (pid: number) => boolean, nowMs: number): Promise<number> {
    const b = this.broker;
    const holders = await b.redis.hgetall(b.holdersKey);
    let restored = 0;
    for (const [field, raw] of Object.entries(holders)) {
      const pid = Number(field.split('.')[1]);
      if (field === b.holderField || !Number.isInteger(pid) || isAlive(pid)) continue;
      const e = parseEntry(raw);
      const supervised = e?.ppid !== undefined && e.at !== undefined && isAlive(e.ppid);
      if (supervised && nowMs - (e.at as number) < HOLDER_STALE_MS) continue;
      restored += (await this.restoreHolder(field, `its worker (pid ${pid}) died`)).restored;
    }
    return restored;
  }
}
