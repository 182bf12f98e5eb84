// Celery's LimitedSet as revoked ids use it: at most `max` ids, each forgotten `ttlMs` after it was added
// (Celery: 50 000 ids for 3 hours). Pure; the caller passes the clock.
export class RecentIds {
  readonly #ids = new Map<string, number>();

  constructor(
    private readonly max = 50_000,
    private readonly ttlMs = 3 * 3600_000,
  ) {}

  add(ids: readonly string[], now: number): void {
    for (const id of ids) {
      this.#ids.delete(id);
      this.#ids.set(id, now + this.ttlMs);
    }
    while (this.#ids.size > this.max) this.#ids.delete(this.#ids.keys().next().value as string);
  }

  has(id: string, now: number): boolean {
    const until = this.#ids.get(id);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#ids.delete(id);
    return false;
  }

  /** Every id still remembered at `now`, oldest first. */
  list(now: number): string[] {
    for (const [id, until] of this.#ids) if (until <= now) this.#ids.delete(id);
    return [...this.#ids.keys()];
  }

  get size(): number {
    return this.#ids.size;
  }
}
