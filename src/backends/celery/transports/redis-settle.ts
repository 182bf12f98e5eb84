// The hot path of a plain successful task (no callbacks, chain or chord): store its result AND ack its message
// in one Lua call, and batch every task that finished in the same event-loop turn into that call. One round trip
// and one script run for many tasks instead of two per task; still atomic per task (never acked without its
// result, never a result without the ack), in the same order the slow path uses (store, then ack).
import type { Redis } from 'ioredis';
import { TASK_KEY_PREFIX } from '../results/redis.js';
import { UNACKED, UNACKED_INDEX } from './redis-broker.js';

// KEYS: unacked, unacked_index, held set, then one result key per task. ARGV: ttl, then (meta, tag) per task.
// A stored SUCCESS is never overwritten (the same guard as ResultStore.store / Celery's _store_result).
const SETTLE_LUA = `
local ttl = tonumber(ARGV[1])
for i = 4, #KEYS do
  local key = KEYS[i]
  local meta = ARGV[(i - 4) * 2 + 2]
  local tag = ARGV[(i - 4) * 2 + 3]
  local cur = redis.call('GET', key)
  if not (cur and string.find(string.sub(cur, 1, 64), '"status":%s*"SUCCESS"')) then
    if ttl > 0 then redis.call('SETEX', key, ttl, meta) else redis.call('SET', key, meta) end
    redis.call('PUBLISH', key, meta)
  end
  if redis.call('SREM', KEYS[3], tag) == 1 then
    redis.call('HDEL', KEYS[1], tag) redis.call('ZREM', KEYS[2], tag)
  end
end
return #KEYS - 3`;

type Pending = { id: string; meta: string; tag: string; done: () => void; fail: (err: unknown) => void };

/** Most tasks settled by one script call (bounds the script's run time and the command size). */
const MAX_BATCH = 256;

export class Settler {
  #pending: Pending[] = [];
  #scheduled = false;
  readonly #run: (...a: (string | number)[]) => Promise<unknown>;

  constructor(
    redis: Redis,
    private readonly heldKey: string,
    private readonly ttlS: number,
    /** Seam: when the batch is flushed (default: after the current event-loop turn's I/O callbacks). */
    private readonly schedule: (fn: () => void) => void = (fn) => void setImmediate(fn),
  ) {
    redis.defineCommand('tbwSettle', { lua: SETTLE_LUA });
    const fn = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>).tbwSettle!;
    this.#run = (...a) => fn.apply(redis, a);
  }

  /** Store `meta` (a JSON result document) as the result of task `id` and ack `tag`; resolves once both are done. */
  settle(id: string, meta: string, tag: string): Promise<void> {
    return new Promise<void>((done, fail) => {
      this.#pending.push({ id, meta, tag, done, fail });
      if (!this.#scheduled) {
        this.#scheduled = true;
        this.schedule(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const all = this.#pending;
    this.#pending = [];
    for (let i = 0; i < all.length; i += MAX_BATCH) {
      const batch = all.slice(i, i + MAX_BATCH);
      const keys = [UNACKED, UNACKED_INDEX, this.heldKey, ...batch.map((p) => TASK_KEY_PREFIX + p.id)];
      const argv: (string | number)[] = [this.ttlS];
      for (const p of batch) argv.push(p.meta, p.tag);
      this.#run(keys.length, ...keys, ...argv).then(
        () => batch.forEach((p) => p.done()),
        (err: unknown) => batch.forEach((p) => p.fail(err)),
      );
    }
  }
}
