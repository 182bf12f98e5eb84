// Celery's Redis result backend as a ResultStore, written the way celery/backends/redis.py + base.py write it: task
// meta under `celery-task-meta-<id>` (SETEX then PUBLISH on the same key), groups under `celery-taskset-meta-<gid>`,
// and the native chord counter (`celery-taskset-meta-<gid>.j/.t/.s`).
import type { Redis } from 'ioredis';
import { isObj } from '../../../util/json.js';
import { TurnBatch } from '../../../util/turn-batch.js';
import { closeRedis } from '../transports/redis-connection.js';
import { READY_STATES, type ChordPart, type ResultMeta, type ResultStore } from '../results.js';

export const TASK_KEY_PREFIX = 'celery-task-meta-';
export const GROUP_KEY_PREFIX = 'celery-taskset-meta-';

/**
 * Lua: store one result as Celery's Redis backend does (SETEX, or SET when results never expire, then PUBLISH on
 * the key for AsyncResult's ResultConsumer), never over a stored SUCCESS (Celery's _store_result guard against
 * duplicate deliveries). The scripts that store results (here and transports/redis-settle.ts) start with it.
 */
export const STORE_RESULT_FN = `
local function store_result(key, value, ttl)
  local cur = redis.call('GET', key)
  if cur and string.find(string.sub(cur, 1, 64), '"status":%s*"SUCCESS"') then return end
  if ttl > 0 then redis.call('SETEX', key, ttl, value) else redis.call('SET', key, value) end
  redis.call('PUBLISH', key, value)
end`;

// Every result stored in one turn of the event loop goes in ONE call (KEYS = their keys, ARGV = expiry, then the
// values, in order): one command for the client and server to handle instead of one per task.
const STORE_LUA = `${STORE_RESULT_FN}
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do store_result(key, ARGV[i + 1], ttl) end
return #KEYS`;

/** Most results one store call carries (the rest go in the next). */
const STORE_BATCH = 256;

// on_chord_part_return of celery/backends/redis.py (ordered zset variant), made atomic: the one caller that
// completes the count gets every part back and the counter keys are deleted in the same step.
const CHORD_LUA = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local ready = redis.call('ZCOUNT', KEYS[1], '-inf', '+inf')
local diff = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local size = redis.call('GET', KEYS[3])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl) redis.call('EXPIRE', KEYS[2], ttl) redis.call('EXPIRE', KEYS[3], ttl)
end
if not size then return false end
if ready == (tonumber(size) or -1) + diff then
  local all = redis.call('ZRANGE', KEYS[1], 0, -1)
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return all
end
return false`;

type Cmd = (...a: unknown[]) => Promise<unknown>;

export interface RedisResultOptions {
  expiresS: number;
  /** Closing the store closes the connection (false when it is the broker's, shared). */
  ownsConnection: boolean;
  /** A second connection for SUBSCRIBE (waitReady), made on first use. */
  subscriber: () => Redis;
}

export class RedisResultStore implements ResultStore {
  readonly name = 'redis';
  readonly chordJoin = 'native' as const;
  readonly #batch: TurnBatch<[key: string, value: string]>;
  readonly #chord: Cmd;
  readonly #waits = new Set<Redis>();

  constructor(
    readonly redis: Redis,
    private readonly o: RedisResultOptions,
  ) {
    redis.defineCommand('tbwStoreResults', { lua: STORE_LUA });
    redis.defineCommand('tbwChordPart', { numberOfKeys: 3, lua: CHORD_LUA });
    // Already one call per turn: on a connection of its own, ioredis's auto-pipelining would only add a Pipeline
    // and a tick to each (~5 us of a child's CPU per task in a RabbitMQ drain). A shared broker connection keeps
    // it, so the order of the commands issued in one callback stays the order they were issued in.
    if (o.ownsConnection) {
      const ignored = redis.options.autoPipeliningIgnoredCommands ?? [];
      redis.options.autoPipeliningIgnoredCommands = [...ignored, 'tbwStoreResults'];
    }
    const cmds = redis as unknown as Record<string, Cmd>;
    const store: Cmd = (...a) => cmds.tbwStoreResults!.apply(redis, a);
    this.#batch = new TurnBatch(
      (b) => store(String(b.length), ...b.map(([k]) => k), String(this.o.expiresS), ...b.map(([, v]) => v)),
      STORE_BATCH,
    );
    this.#chord = (...a) => cmds.tbwChordPart!.apply(redis, a);
  }

  get expiresS(): number {
    return this.o.expiresS;
  }

  /** Stored with the other results of this turn of the event loop (one call, see STORE_LUA). */
  store(id: string, meta: ResultMeta): Promise<void> {
    let value: string;
    try {
      value = JSON.stringify(meta);
    } catch (err) {
      return Promise.reject(err as Error); // a result that cannot be encoded fails its store, never its caller's turn
    }
    return this.#batch.add([TASK_KEY_PREFIX + id, value]);
  }

  async get(id: string): Promise<ResultMeta | null> {
    const raw = await this.redis.get(TASK_KEY_PREFIX + id);
    return raw === null ? null : (JSON.parse(raw) as ResultMeta);
  }

  async getMany(ids: readonly string[]): Promise<(ResultMeta | null)[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(...ids.map((id) => TASK_KEY_PREFIX + id));
    return raws.map((raw) => (raw === null ? null : (JSON.parse(raw) as ResultMeta)));
  }

  /** AsyncResult.get() as Celery's Redis backend does it: subscribe to the key's channel, then read it. */
  async waitReady(id: string, timeoutMs?: number): Promise<ResultMeta> {
    const key = TASK_KEY_PREFIX + id;
    const sub = this.o.subscriber();
    this.#waits.add(sub);
    try {
      return await new Promise<ResultMeta>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const done = (raw: string | null): void => {
          if (raw === null) return;
          const meta = JSON.parse(raw) as ResultMeta;
          if (!READY_STATES.has(String(meta.status))) return;
          clearTimeout(timer);
          resolve(meta);
        };
        if (timeoutMs !== undefined) {
          const late = Object.assign(new Error(`no result for ${id} within ${timeoutMs} ms`), { name: 'TimeoutError' });
          timer = setTimeout(() => reject(late), timeoutMs);
        }
        sub.on('message', (_ch: string, raw: string) => done(raw));
        // Subscribe first, then read: a result stored in between is seen by one of the two.
        sub
          .subscribe(key)
          .then(() => this.redis.get(key))
          .then(done)
          .catch(reject);
      });
    } finally {
      this.#waits.delete(sub);
      sub.disconnect();
    }
  }

  async forget(id: string): Promise<void> {
    await this.redis.del(TASK_KEY_PREFIX + id);
  }

  async setChordSize(gid: string, size: number): Promise<void> {
    await this.#set(`${GROUP_KEY_PREFIX}${gid}.s`, String(size), false);
  }

  /** Record one chord part; resolves with every part (in group order) when this one completed the chord. */
  async chordPart(
    gid: string,
    tid: string,
    index: number | null,
    state: string,
    result: unknown,
  ): Promise<ChordPart[] | null> {
    const base = GROUP_KEY_PREFIX + gid;
    const member = JSON.stringify([1, tid, state, result]);
    const all = (await this.#chord(
      `${base}.j`,
      `${base}.t`,
      `${base}.s`,
      member,
      index === null ? '+inf' : String(index),
      String(this.o.expiresS),
    )) as string[] | null;
    if (!all) return null;
    return all.map((m) => {
      const [, t, s, r] = JSON.parse(m) as [number, string, string, unknown];
      return { tid: t, state: s, result: r };
    });
  }

  /** GroupResult.save(): {"result": GroupResult.as_tuple()} = [[gid, parent], [[[id, parent], null], ...]]. */
  async saveGroup(gid: string, ids: readonly string[]): Promise<void> {
    const tuple = [[gid, null], ids.map((id) => [[id, null], null])];
    await this.#set(GROUP_KEY_PREFIX + gid, JSON.stringify({ result: tuple }), true);
  }

  async restoreGroup(gid: string): Promise<string[] | null> {
    const raw = await this.redis.get(GROUP_KEY_PREFIX + gid);
    if (raw === null) return null;
    const meta = JSON.parse(raw) as unknown;
    const children = isObj(meta) && Array.isArray(meta.result) ? meta.result[1] : null;
    if (!Array.isArray(children)) return null;
    return children.flatMap((c: unknown) =>
      Array.isArray(c) && Array.isArray(c[0]) && typeof c[0][0] === 'string' ? [c[0][0]] : [],
    );
  }

  async deleteGroup(gid: string): Promise<void> {
    await this.redis.del(GROUP_KEY_PREFIX + gid);
  }

  async close(): Promise<void> {
    for (const s of this.#waits) s.disconnect();
    if (this.o.ownsConnection) await closeRedis(this.redis);
  }

  /** SET with the result expiry (and, like Celery's RedisBackend.set, a PUBLISH on the key when asked). */
  async #set(key: string, value: string, publish: boolean): Promise<void> {
    if (this.o.expiresS > 0) await this.redis.setex(key, this.o.expiresS, value);
    else await this.redis.set(key, value);
    if (publish) await this.redis.publish(key, value);
  }
}
