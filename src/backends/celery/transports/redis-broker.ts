// kombu's Redis transport structures on ioredis, with the list → `unacked` move made atomic (one Lua script pops
// and holds) instead of kombu's BRPOP-then-pipeline. Held messages are also recorded per child
// (`tbw.held.<host>.<slot>.<pid>`, indexed in `tbw.holders.<host>`) so a dead child's messages go back at once.
// Low level (tags and raw entries); redis.ts builds the Transport on it.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { PRIORITY_SEP, queueKey } from './redis-envelope.js';
import { ACK_LUA, FETCH_LUA, PUSH_ACK_LUA, RESTORE_LUA, UNLOCK_LUA } from './redis-lua.js';

export const UNACKED = 'unacked';
export const UNACKED_INDEX = 'unacked_index';
export const UNACKED_MUTEX = 'unacked_mutex';
export const REVOKED_KEY = 'tbw.revoked';
export const BINDING_PREFIX = '_kombu.binding.';

export interface Fetched {
  /** The list it came from. */
  key: string;
  raw: string;
  /** Delivery tag; '' when the entry was dead-lettered by the fetch itself. */
  tag: string;
  flag: '' | 'revoked' | 'dead' | '0';
}

type Cmd = (...args: (string | number)[]) => Promise<unknown>;

export class Broker {
  readonly heldKey: string;
  readonly holdersKey: string;
  readonly holderField: string;
  readonly #cmd: Record<'fetch' | 'ack' | 'pushAck' | 'restore' | 'unlock', Cmd>;

  constructor(
    readonly redis: Redis,
    readonly opts: { hostname: string; index: number; pid: number; deadLetterKey: string; visibilityTimeoutS: number },
  ) {
    this.heldKey = `tbw.held.${opts.hostname}.${opts.index}.${opts.pid}`;
    this.holdersKey = `tbw.holders.${opts.hostname}`;
    this.holderField = `${opts.index}.${opts.pid}`;
    // keys undefined: the first argument is the key count (scripts over a variable set of lists).
    const def = (name: string, keys: number | undefined, lua: string): Cmd => {
      redis.defineCommand(name, keys === undefined ? { lua } : { numberOfKeys: keys, lua });
      const fn = (redis as unknown as Record<string, Cmd>)[name]!;
      return (...a) => fn.apply(redis, a);
    };
    this.#cmd = {
      fetch: def('tbwFetch', undefined, FETCH_LUA),
      ack: def('tbwAck', 3, ACK_LUA),
      pushAck: def('tbwPushAck', 4, PUSH_ACK_LUA),
      restore: def('tbwRestore', undefined, RESTORE_LUA),
      unlock: def('tbwUnlock', 1, UNLOCK_LUA),
    };
  }

  /** Pop and hold up to n messages from `keys` (already in priority order). Never blocks. */
  async fetch(keys: readonly string[], n: number, nowMs: number): Promise<Fetched[]> {
    const base = [UNACKED, UNACKED_INDEX, this.heldKey, this.opts.deadLetterKey, REVOKED_KEY];
    const flat = (await this.#cmd.fetch(
      base.length + keys.length,
      ...base,
      ...keys,
      n,
      nowMs / 1000,
      `celery@${this.opts.hostname}`,
    )) as string[];
    const out: Fetched[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      out.push({ key: flat[i]!, raw: flat[i + 1]!, tag: flat[i + 2]!, flag: flat[i + 3] as Fetched['flag'] });
    }
    return out;
  }

  async ack(tags: string[]): Promise<void> {
    if (tags.length > 0) await this.#cmd.ack(UNACKED, UNACKED_INDEX, this.heldKey, ...tags);
  }

  /** Push `raw` to `list` (L = tail/last consumed, R = head/next consumed) and ack `tag`, atomically. */
  async pushAndAck(tag: string, list: string, raw: string, side: 'L' | 'R'): Promise<void> {
    await this.#cmd.pushAck(UNACKED, UNACKED_INDEX, this.heldKey, list, tag, raw, side);
  }

  /** Queues a message goes to: anonymous exchange → routing key; else kombu's binding table. */
  async targets(exchange: string, routingKey: string, priority: number): Promise<string[]> {
    let queues = [routingKey];
    if (exchange !== '') {
      const members = await this.redis.smembers(BINDING_PREFIX + exchange);
      const bound = members
        .map((m) => m.split(PRIORITY_SEP))
        .filter(([rk]) => rk === routingKey)
        .map(([, , q]) => q ?? '')
        .filter((q) => q !== '');
      // kombu drops a message whose binding vanished; we fall back to the routing key rather than lose it.
      if (bound.length > 0) queues = [...new Set(bound)];
    }
    return queues.map((q) => queueKey(q, priority));
  }

  /** Give a held message back to its queue (kombu restore_by_tag); false if it was no longer held. */
  async restore(tag: string, leftmost = false, heldKey = this.heldKey): Promise<boolean> {
    const cur = await this.redis.hget(UNACKED, tag);
    if (cur === null) {
      await this.redis.srem(heldKey, tag);
      return false;
    }
    let targets: string[];
    let payload: string;
    try {
      const [m, ex, rk] = JSON.parse(cur) as [Record<string, Record<string, unknown>>, string, string];
      if (m.headers) m.headers.redelivered = true;
      const di = m.properties?.delivery_info as Record<string, unknown> | undefined;
      if (di) di.redelivered = true;
      const pri = typeof m.properties?.priority === 'number' ? m.properties.priority : 0;
      targets = await this.targets(ex ?? '', rk ?? 'celery', pri);
      payload = JSON.stringify(m);
    } catch {
      // An entry we cannot read is kept for humans in the dead-letter list rather than restored forever.
      targets = [this.opts.deadLetterKey];
      payload = JSON.stringify({ reason: 'unreadable unacked entry', message: cur, at: Date.now() / 1000 });
    }
    const n = (await this.#cmd.restore(
      3 + targets.length,
      UNACKED,
      UNACKED_INDEX,
      heldKey,
      ...targets,
      tag,
      cur,
      payload,
      leftmost ? 'L' : 'R',
    )) as number;
    return n === 1;
  }

  /** Announce this child as a holder (so others can restore its messages when it dies). */
  async register(nowMs: number): Promise<void> {
    await this.redis.hset(
      this.holdersKey,
      this.holderField,
      JSON.stringify({ pid: this.opts.pid, index: this.opts.index, since: nowMs }),
    );
  }

  /** Tags in this child's held set (the maintenance compares them with what the consumer still holds). */
  heldTags(): Promise<string[]> {
    return this.redis.smembers(this.heldKey);
  }

  /** LPUSH one raw entry (kombu's _put): the next-to-last consumed is the oldest. */
  async push(key: string, raw: string): Promise<void> {
    await this.redis.lpush(key, raw);
  }

  async unregister(): Promise<void> {
    const left = await this.redis.scard(this.heldKey);
    if (left === 0) await this.redis.hdel(this.holdersKey, this.holderField);
  }

  /** Restore every message held by a dead child of this node; returns how many went back. */
  async restoreDeadHolders(isAlive: (pid: number) => boolean): Promise<number> {
    const holders = await this.redis.hgetall(this.holdersKey);
    let restored = 0;
    for (const field of Object.keys(holders)) {
      const pid = Number(field.split('.')[1]);
      if (field === this.holderField || !Number.isInteger(pid) || isAlive(pid)) continue;
      const key = `tbw.held.${this.opts.hostname}.${field}`;
      for (const tag of await this.redis.smembers(key)) if (await this.restore(tag, false, key)) restored++;
      await this.redis.del(key);
      await this.redis.hdel(this.holdersKey, field);
    }
    return restored;
  }

  /** kombu's restore_visible: under `unacked_mutex`, restore what has been held longer than the visibility timeout. */
  async restoreVisible(nowMs: number, limit = 100): Promise<number> {
    const token = randomUUID();
    const got = await this.redis.set(UNACKED_MUTEX, token, 'EX', 300, 'NX');
    if (got !== 'OK') return 0;
    let restored = 0;
    try {
      const ceil = nowMs / 1000 - this.opts.visibilityTimeoutS;
      const tags = await this.redis.zrevrangebyscore(UNACKED_INDEX, ceil, 0, 'LIMIT', 0, limit);
      for (const tag of tags) if (await this.restore(tag)) restored++;
    } finally {
      await this.#cmd.unlock(UNACKED_MUTEX, token);
    }
    return restored;
  }

  /** Keep our own holds fresh so a live worker's long task or ETA wait is not restored by visibility timeout. */
  async refresh(tags: string[], nowMs: number): Promise<void> {
    if (tags.length === 0) return;
    const args: (string | number)[] = [];
    for (const t of tags) args.push(nowMs / 1000, t);
    await this.redis.zadd(UNACKED_INDEX, 'XX', ...args);
  }
}
