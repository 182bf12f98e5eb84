// A Map for entries that come and go thousands of times a second: the messages a child holds, the tasks it runs.
// V8 (11.3, Node 20) keeps a Map's old backing table after a rehash, linked to the table that replaced it, and what
// it held stays reachable from it. Once the map's tables live in the old generation (any long-lived map), every
// young object such a table still points to survives the scavenges until the next full GC, and is promoted: every
// message's whole object graph. Measured with --trace-gc-nvp in a 10k no-op RabbitMQ drain (results in Redis),
// ~1-2 MB promoted a scavenge per child with plain Maps, ~0.4 MB with these (the rest: the results' own commands);
// and in test/process/gc-churn.test.ts, ~23 % of what was allocated against ~1 %.
// Here the map holds a small box per entry, and deleting an entry empties its box first: an old table keeps only
// the empty box and the key alive, never the message behind them.

interface Box<V> {
  v: V | undefined;
}

export class ChurnMap<K, V> implements Iterable<[K, V]> {
  readonly #m = new Map<K, Box<V>>();

  get size(): number {
    return this.#m.size;
  }

  get(k: K): V | undefined {
    return this.#m.get(k)?.v;
  }

  has(k: K): boolean {
    return this.#m.has(k);
  }

  set(k: K, v: V): this {
    const b = this.#m.get(k);
    if (b === undefined) this.#m.set(k, { v });
    else b.v = v;
    return this;
  }

  delete(k: K): boolean {
    const b = this.#m.get(k);
    if (b === undefined) return false;
    b.v = undefined;
    return this.#m.delete(k);
  }

  clear(): void {
    for (const b of this.#m.values()) b.v = undefined;
    this.#m.clear();
  }

  keys(): IterableIterator<K> {
    return this.#m.keys();
  }

  /** In insertion order, like a Map's; deleting entries while iterating is safe, as it is with a Map. */
  *values(): IterableIterator<V> {
    for (const b of this.#m.values()) yield b.v as V;
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [k, b] of this.#m) yield [k, b.v as V];
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}
