// kombu's Redis transport structures on ioredis, with the list → `unacked` move made atomic (one Lua script pops
// and holds) instead of kombu's BRPOP-then-pipeline. Held messages are also recorded per child
// (`tbw.held.<host>.<slot>.<pid>`, indexed in `tbw.holders.<host>`: redis-holders.ts) so a dead child's messages go
// back at once; the held ones that wait instead of running (ETA, rate limit, behind a rerun) are also in
// `tbw.parked.<…>`, so a lost worker charges only what was running. Low level (tags and raw entries); redis.ts
// builds the Transport on it. Byte-exact: entries and tags are read as bytes, so a tag that is not UTF-8 still acks.
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { isObj } from '../../../util/json.js';
import { LOST_HEADER, LOST_REASON_HEADER, PRIORITY_SEP, queueKey } from './redis-envelope.js';
import { ACK_LUA, FETCH_LUA, PUSH_ACK_LUA, RESTORE_LUA, UNLOCK_LUA } from './redis-lua.js';

export const UNACKED = 'unacked';
export const UNACKED_INDEX = 'unacked_index';
export const UNACKED_MUTEX = 'unacked_mutex';
export const REVOKED_KEY = 'tbw.revoked';
export const BINDING_PREFIX = '_kombu.binding.';
/** The dead-letter list keeps the first this many bytes of a message (the envelope's headers come first). */
export const DEAD_LETTER_MESSAGE_BYTES = 64 * 1024;

export interface Fetched {
  /** The list it came from. */
  key: string;
  /** The entry as text (invalid UTF-8 replaced: for reading only). */
  raw: string;
  /** The entry's exact bytes when it is not valid UTF-8 (to push it back unchanged). */
  bytes?: Buffer;
  /** Delivery tag; '' when the entry was dead-lettered by the fetch itself. */
  tag: string;
  flag: '' | 'revoked' | 'dead' | '0';
}

export interface BrokerOptions {
  hostname: string;
  index: number;
  pid: number;
  deadLetterKey: string;
  visibilityTimeoutS: number;
  /** Most entries the dead-letter list keeps (newest first); 0 = no cap. */
  deadLetterMax?: number;
}

/** Why a restore happens: a lost worker charges the message (`lost` = the reason), anything else does not. */
export interface RestoreOptions {
  leftmost?: boolean;
  heldKey?: string;
  parkedKey?: string;
  lost?: string | null;
}

type Cmd = (...args: (string | number | Buffer)[]) => Promise<unknown>;
type Tag = string | Buffer;

export const heldKeyOf = (host: string, field: string): string => `tbw.held.${host}.${field}`;
export const parkedKeyOf = (host: string, field: string): string => `tbw.parked.${host}.${field}`;

export class Broker {
  readonly heldKey: string;
  readonly parkedKey: string;
  readonly holdersKey: string;
  readonly holderField: string;
  readonly deadLetterMax: number;
  readonly #cmd: Record<'fetch' | 'ack' | 'pushAck' | 'restore' | 'unlock', Cmd>;
  /** Tags that are not valid UTF-8: the name we use → their exact bytes (sent back on ack). */
  readonly #binaryTags = new Map<string, Buffer>();

  constructor(
    readonly redis: Redis,
    readonly opts: BrokerOptions,
  ) {
    this.holderField = `${opts.index}.${opts.pid}`;
    this.heldKey = heldKeyOf(opts.hostname, this.holderField);
    this.parkedKey = parkedKeyOf(opts.hostname, this.holderField);
    this.holdersKey = `tbw.holders.${opts.hostname}`;
    this.deadLetterMax = opts.deadLetterMax ?? 10_000;
    // keys undefined: the first argument is the key count (scripts over a variable set of lists).
    const def = (name: string, keys: number | undefined, lua: string, buffers = false): Cmd => {
      redis.defineCommand(name, keys === undefined ? { lua } : { numberOfKeys: keys, lua });
      const fn = (redis as unknown as Record<string, Cmd>)[buffers ? `${name}Buffer` : name]!;
      return (...a) => fn.apply(redis, a);
    };
    this.#cmd = {
      fetch: def('tbwFetch', undefined, FETCH_LUA, true),
      ack: def('tbwAck', 4, ACK_LUA),
      pushAck: def('tbwPushAck', 5, PUSH_ACK_LUA),
      restore: def('tbwRestore', undefined, RESTORE_LUA),
      unlock: def('tbwUnlock', 1, UNLOCK_LUA),
    };
  }

  /** The bytes to send for a tag we handed out (the same string for every UTF-8 tag). */
  wire(tag: string): Tag {
    return this.#binaryTags.get(tag) ?? tag;
  }

  /** Our name for a tag read from Redis as bytes. */
  nameOf(tag: Buffer): string {
    const s = tag.toString();
    if (tag.length === 0 || isUtf8(tag)) return s;
    const name = `\u0000bytes:${tag.toString('hex')}`;
    this.#binaryTags.set(name, tag);
    return name;
  }

  /** Forget the byte form of settled tags. */
  #settled(tags: readonly string[]): void {
    if (this.#binaryTags.size > 0) for (const t of tags) this.#binaryTags.delete(t);
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
      this.deadLetterMax,
      DEAD_LETTER_MESSAGE_BYTES,
    )) as Buffer[];
    const out: Fetched[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      const rawBytes = flat[i + 1]!;
      const f: Fetched = {
        key: flat[i]!.toString(),
        raw: rawBytes.toString(),
        tag: this.nameOf(flat[i + 2]!),
        flag: flat[i + 3]!.toString() as Fetched['flag'],
      };
      if (!isUtf8(rawBytes)) f.bytes = rawBytes;
      out.push(f);
    }
    return out;
  }

  async ack(tags: string[]): Promise<void> {
    if (tags.length === 0) return;
    await this.#cmd.ack(UNACKED, UNACKED_INDEX, this.heldKey, this.parkedKey, ...tags.map((t) => this.wire(t)));
    this.#settled(tags);
  }

  /** Push `raw` to `list` (L = tail/last consumed, R = head/next consumed) and ack `tag`, atomically. */
  async pushAndAck(tag: string, list: string, raw: string | Buffer, side: 'L' | 'R', cap = 0): Promise<void> {
    await this.#cmd.pushAck(UNACKED, UNACKED_INDEX, this.heldKey, list, this.parkedKey, this.wire(tag), raw, side, cap);
    this.#settled([tag]);
  }

  /** Mark held messages as waiting (ETA, rate limit, behind a rerun) or running again: only running ones are charged. */
  async park(tags: readonly string[], parked: boolean): Promise<void> {
    if (tags.length === 0) return;
    const wire = tags.map((t) => this.wire(t));
    if (parked) await this.redis.sadd(this.parkedKey, ...wire);
    else await this.redis.srem(this.parkedKey, ...wire);
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

  /**
   * Give a held message back to its queue (kombu restore_by_tag); false if it was no longer held. A lost worker's
   * restore (`lost` = why it died) bumps the message's lost-worker count, which the consumer holds against the
   * delivery limit; Python workers ignore the header.
   */
  async restore(tag: Tag, o: RestoreOptions = {}): Promise<boolean> {
    const heldKey = o.heldKey ?? this.heldKey;
    const parkedKey = o.parkedKey ?? this.parkedKey;
    const wire = typeof tag === 'string' ? this.wire(tag) : tag;
    const cur = await this.redis.hgetBuffer(UNACKED, wire);
    if (typeof tag === 'string') this.#settled([tag]);
    if (cur === null) {
      await this.redis.multi().srem(heldKey, wire).srem(parkedKey, wire).exec();
      return false;
    }
    let targets: string[];
    let payload: string;
    try {
      const [m, ex, rk] = JSON.parse(cur.toString()) as [Record<string, unknown>, string, string];
      if (!isObj(m)) throw new Error('not an envelope');
      markRedelivered(m, o.lost ?? null);
      const props = isObj(m.properties) ? m.properties : {};
      const pri = typeof props.priority === 'number' ? props.priority : 0;
      targets = await this.targets(ex ?? '', rk ?? 'celery', pri);
      payload = JSON.stringify(m);
    } catch {
      // An entry we cannot read is kept for humans in the dead-letter list rather than restored forever.
      targets = [this.opts.deadLetterKey];
      const message = cur.subarray(0, DEAD_LETTER_MESSAGE_BYTES).toString();
      payload = JSON.stringify({ reason: 'unreadable unacked entry', message, at: Date.now() / 1000 });
    }
    const n = (await this.#cmd.restore(
      4 + targets.length,
      UNACKED,
      UNACKED_INDEX,
      heldKey,
      parkedKey,
      ...targets,
      wire,
      cur,
      payload,
      o.leftmost === true ? 'L' : 'R',
    )) as number;
    return n === 1;
  }

  /** Tags in this child's held set (the maintenance compares them with what the consumer still holds). */
  async heldTags(): Promise<string[]> {
    return (await this.redis.smembersBuffer(this.heldKey)).map((t) => this.nameOf(t));
  }

  /** LPUSH one raw entry (kombu's _put): the next-to-last consumed is the oldest. */
  async push(key: string, raw: string): Promise<void> {
    await this.redis.lpush(key, raw);
  }

  /** kombu's restore_visible: under `unacked_mutex`, restore what has been held longer than the visibility timeout. */
  async restoreVisible(nowMs: number, limit = 100): Promise<number> {
    const token = randomUUID();
    const got = await this.redis.set(UNACKED_MUTEX, token, 'EX', 300, 'NX');
    if (got !== 'OK') return 0;
    let restored = 0;
    try {
      const ceil = nowMs / 1000 - this.opts.visibilityTimeoutS;
      const tags = await this.redis.zrevrangebyscoreBuffer(UNACKED_INDEX, ceil, 0, 'LIMIT', 0, limit);
      for (const tag of tags) if (await this.restore(tag)) restored++;
    } finally {
      await this.#cmd.unlock(UNACKED_MUTEX, token);
    }
    return restored;
  }

  /** Keep our own holds fresh so a live worker's long task or ETA wait is not restored by visibility timeout. */
  async refresh(tags: string[], nowMs: number): Promise<void> {
    if (tags.length === 0) return;
    const args: (string | number | Buffer)[] = [];
    for (const t of tags) args.push(nowMs / 1000, this.wire(t));
    await this.redis.zadd(UNACKED_INDEX, 'XX', ...(args as string[]));
  }
}

/**
 * kombu's restore marks both flags (kombu/transport/redis.py _do_restore_message); a lost worker also counts
 * (`tbw_lost`) and says why (`tbw_lost_reason`).
 */
function markRedelivered(m: Record<string, unknown>, lost: string | null): void {
  if (lost !== null && !isObj(m.headers)) m.headers = {};
  const h = m.headers;
  if (isObj(h)) {
    h.redelivered = true;
    if (lost !== null) {
      const n = typeof h[LOST_HEADER] === 'number' ? (h[LOST_HEADER] as number) : 0;
      h[LOST_HEADER] = n + 1;
      h[LOST_REASON_HEADER] = lost;
    }
  }
  const di = isObj(m.properties) ? m.properties.delivery_info : undefined;
  if (isObj(di)) di.redelivered = true;
}
