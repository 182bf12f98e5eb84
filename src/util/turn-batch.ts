// Calls made in one turn of the event loop, handed over together: the first call schedules one flush (by default
// after the turn's I/O callbacks), the flush runs the items in batches of at most `max`, and each caller's promise
// settles with its batch. Used where one command for many items is much cheaper than one each (Redis scripts).
type Pending<T> = { item: T; done: () => void; fail: (err: unknown) => void };

export class TurnBatch<T> {
  #pending: Pending<T>[] = [];
  #scheduled = false;

  constructor(
    private readonly run: (items: T[]) => Promise<unknown>,
    private readonly max: number,
    /** Seam: when the batch is flushed. */
    private readonly schedule: (fn: () => void) => void = (fn) => void setImmediate(fn),
  ) {}

  /** Resolves once the batch holding `item` ran; rejects with that batch's error. */
  add(item: T): Promise<void> {
    return new Promise<void>((done, fail) => {
      this.#pending.push({ item, done, fail });
      if (this.#scheduled) return;
      this.#scheduled = true;
      this.schedule(() => this.#flush());
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const all = this.#pending;
    this.#pending = [];
    for (let i = 0; i < all.length; i += this.max) {
      const batch = all.slice(i, i + this.max);
      const fail = (err: unknown): void => {
        for (const p of batch) p.fail(err);
      };
      try {
        // Whatever `run` throws rejects this batch's callers: nothing may escape the scheduled flush.
        this.run(batch.map((p) => p.item)).then(() => {
          for (const p of batch) p.done();
        }, fail);
      } catch (err) {
        fail(err);
      }
    }
  }
}
