// The hot path of a plain successful task (no callbacks, chain or chord): store its result AND ack its message
// in one Lua call, and batch every task that finished in the same event-loop turn into that call. One round trip
// and one script run for many tasks instead of two per task; still atomic per task (never acked without its
// result, never a result without the ack), in the same order the slow path uses (store, then ack).
import type { Redis } from 'ioredis';
import { TurnBatch } from '../../../util/turn-batch.js';
import { STORE_RESULT_FN, TASK_KEY_PREFIX } from '../results/redis.js';
import { UNACKED, UNACKED_INDEX } from './redis-broker.js';

// KEYS: unacked, unacked_index, held set, then one result key per task. ARGV: ttl, then (meta, tag) per task.
// The result is stored as ResultStore.store stores it (STORE_RESULT_FN: a stored SUCCESS is never overwritten).
const SETTLE_LUA = `${STORE_RESULT_FN}
local ttl = tonumber(ARGV[1])
for i = 4, #KEYS do
  local tag = ARGV[(i - 4) * 2 + 3]
  store_result(KEYS[i], ARGV[(i - 4) * 2 + 2], ttl)
  if redis.call('SREM', KEYS[3], tag) == 1 then
    redis.call('HDEL', KEYS[1], tag) redis.call('ZREM', KEYS[2], tag)
  end
end
return #KEYS - 3`;

type Pending = { id: string; meta: string; tag: string };

/** Most tasks settled by one script call (bounds the script's run time and the command size). */
const MAX_BATCH = 256;

export class Settler {
  readonly #batch: TurnBatch<Pending>;

  constructor(
    redis: Redis,
    heldKey: string,
    ttlS: number,
    /** Seam: when the batch is flushed (default: after the current event-loop turn's I/O callbacks). */
    schedule?: (fn: () => void) => void,
  ) {
    redis.defineCommand('tbwSettle', { lua: SETTLE_LUA });
    const fn = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>).tbwSettle!;
    const run = (batch: Pending[]): Promise<unknown> => {
      const keys = [UNACKED, UNACKED_INDEX, heldKey, ...batch.map((p) => TASK_KEY_PREFIX + p.id)];
      const argv: (string | number)[] = [ttlS];
      for (const p of batch) argv.push(p.meta, p.tag);
      return fn.apply(redis, [keys.length, ...keys, ...argv]);
    };
    this.#batch = new TurnBatch(run, MAX_BATCH, schedule);
  }

  /** Store `meta` (a JSON result document) as the result of task `id` and ack `tag`; resolves once both are done. */
  settle(id: string, meta: string, tag: string): Promise<void> {
    return this.#batch.add({ id, meta, tag });
  }
}
