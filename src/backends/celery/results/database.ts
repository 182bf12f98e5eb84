// Celery's database result backend (PostgreSQL) as a ResultStore: rows in celery_taskmeta / celery_tasksetmeta as
// celery/backends/database writes them (result JSON-encoded as Celery 5.7 does, or pickled for Celery ≤ 5.6 clients;
// both read back; extended columns when result_extended is on), read the way _get_task_meta_for does (no row =
// PENDING). It cannot join chords itself (chordJoin 'unlock': the worker runs
// Celery's celery.chord_unlock), and waits by polling, as Python's AsyncResult.get() does on this backend — batched:
// one query per tick for every id being waited on.
import type { Pool, QueryResultRow } from 'pg';
import type { Logger } from 'pino';
import { ConnectionReporter } from '../../../log/connection.js';
import { type ResultMeta, type ResultStore } from '../results.js';
import {
  decodeStored,
  encodeChildren,
  encodeGroup,
  encodeResult,
  groupIds,
  type ResultFormat,
  stampFields,
} from './database-codec.js';
import { type Statements, type TaskColumns, utcTimestamp } from './database-sql.js';

export interface DatabaseStoreOptions {
  statements: Statements;
  /** Fill name/args/kwargs/worker/retries/queue (Celery's result_extended). */
  extended: boolean;
  /** How `result` and a group's row are written (both formats are always read). */
  format: ResultFormat;
  /** The Celery 5.7 columns the task table has (the statements were built for them). */
  columns: TaskColumns;
  /** Result expiry for cleanup(), seconds. */
  expiresS: number;
  /** How often waitReady looks, ms. */
  pollMs: number;
  now(): number;
  logger: Logger;
  /** The URL with its password redacted, for log lines. */
  where: string;
}

/** Connection trouble worth another attempt (Celery retries its database operations 3 times too). */
const TRANSIENT = /^(08|57P0[123]|53300)/;
const RETRY_DELAYS_MS = [100, 400, 1600];

/** Connection trouble (refused, reset, the server restarting, too many connections): worth another attempt. */
export function transient(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return TRANSIENT.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(code);
}

interface Waiter {
  resolve(meta: ResultMeta): void;
  reject(err: Error): void;
}

const isoUtc = (v: unknown): string | null =>
  typeof v === 'string' ? `${v.replace(' ', 'T')}+00:00` : v instanceof Date ? v.toISOString() : null;

const jsonBytes = (v: unknown): Buffer | null => (v === undefined ? null : Buffer.from(JSON.stringify(v ?? null)));

function parseJsonColumn(v: unknown): unknown {
  if (!Buffer.isBuffer(v)) return v ?? null;
  try {
    return JSON.parse(v.toString('utf8'));
  } catch {
    return v.toString('utf8');
  }
}

export class DatabaseResultStore implements ResultStore {
  readonly name = 'database';
  readonly chordJoin = 'unlock' as const;
  readonly #waiters = new Map<string, Set<Waiter>>();
  #polling: NodeJS.Timeout | null = null;
  #closed = false;

  /** Its connection trouble, in the shape every connection says it (src/log/connection.ts). */
  readonly #report: ConnectionReporter;

  constructor(
    readonly pool: Pool,
    private readonly o: DatabaseStoreOptions,
  ) {
    this.#report = new ConnectionReporter(o.logger, { role: 'results', url: o.where });
    this.#report.up();
  }

  /** The pool lost an idle connection (server restart): said once; the next query's attempts say the rest. */
  connectionLost(err: unknown): void {
    if (this.#report.failures === 0) this.#report.failed(err, 0);
  }

  /**
   * One named statement; connection trouble (server restart, refused, too many connections) is retried after
   * 0.1, 0.4 and 1.6 s with one WARN line per attempt, as Celery's backend retries; other errors are the caller's.
   */
  async #q<R extends QueryResultRow>(name: keyof Statements, values: unknown[]): Promise<R[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        const rows = (await this.pool.query<R>({ name, text: this.o.statements[name], values })).rows;
        if (this.#report.failures > 0) this.#report.up();
        return rows;
      } catch (err) {
        const delay = RETRY_DELAYS_MS[attempt];
        if (delay === undefined || !transient(err) || this.#closed) throw err;
        this.#report.failed(err, delay);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async store(id: string, meta: ResultMeta): Promise<void> {
    const status = String(meta.status);
    const ready = status === 'SUCCESS' || status === 'FAILURE' || status === 'REVOKED';
    const base = [
      id,
      status,
      encodeResult(this.o.format, status, meta.result),
      // Celery stores date_done only for ready states (its DateTime default is overwritten with None otherwise).
      ready ? utcTimestamp(this.o.now()) : null,
      typeof meta.traceback === 'string' ? meta.traceback : null,
      ...(this.o.columns.children ? [encodeChildren(meta.children)] : []),
    ];
    if (!this.o.extended) {
      await this.#q('store', base);
      return;
    }
    await this.#q('storeExtended', [
      ...base,
      typeof meta.name === 'string' ? meta.name : null,
      jsonBytes(meta.args),
      jsonBytes(meta.kwargs),
      typeof meta.worker === 'string' ? meta.worker : null,
      typeof meta.retries === 'number' ? meta.retries : null,
      typeof meta.queue === 'string' ? meta.queue : null,
    ]);
  }

  /** One row → the document the JSON backends hold (status, result, traceback, children, date_done, task_id...). */
  #meta(row: Record<string, unknown>): ResultMeta {
    const id = String(row.task_id);
    const result = Buffer.isBuffer(row.result) ? decodeStored(row.result, `the stored result of task ${id}`) : null;
    const children = Buffer.isBuffer(row.children) ? decodeStored(row.children, `the children of task ${id}`) : [];
    const meta: ResultMeta = {
      status: row.status ?? 'PENDING',
      result,
      traceback: row.traceback ?? null,
      children: Array.isArray(children) ? children : [],
      date_done: isoUtc(row.date_done),
    };
    if (row.name !== null && row.name !== undefined) {
      Object.assign(meta, {
        name: row.name,
        args: parseJsonColumn(row.args),
        kwargs: parseJsonColumn(row.kwargs),
        worker: row.worker ?? null,
        retries: row.retries ?? null,
        queue: row.queue ?? null,
      });
    }
    if (Buffer.isBuffer(row.stamps)) Object.assign(meta, stampFields(row.stamps));
    meta.task_id = id;
    return meta;
  }

  async get(id: string): Promise<ResultMeta | null> {
    const rows = await this.#q('get', [id]);
    return rows[0] ? this.#meta(rows[0]) : null;
  }

  async getMany(ids: readonly string[]): Promise<(ResultMeta | null)[]> {
    if (ids.length === 0) return [];
    const rows = await this.#q('getMany', [ids]);
    const by = new Map(rows.map((r) => [String(r.task_id), r]));
    return ids.map((id) => {
      const r = by.get(id);
      return r ? this.#meta(r) : null;
    });
  }

  waitReady(id: string, timeoutMs?: number): Promise<ResultMeta> {
    return new Promise<ResultMeta>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.#drop(id, w);
          reject(Object.assign(new Error(`no result for ${id} within ${timeoutMs} ms`), { name: 'TimeoutError' }));
        }, timeoutMs);
      }
      let set = this.#waiters.get(id);
      if (!set) this.#waiters.set(id, (set = new Set()));
      set.add(w);
      this.#schedule(0);
    });
  }

  #drop(id: string, w: Waiter): void {
    const set = this.#waiters.get(id);
    set?.delete(w);
    if (set?.size === 0) this.#waiters.delete(id);
  }

  #schedule(ms: number): void {
    if (this.#polling !== null || this.#closed) return;
    this.#polling = setTimeout(() => void this.#poll(), ms);
  }

  /** One query for every id waited on; ready rows resolve their waiters; again after pollMs while any remain. */
  async #poll(): Promise<void> {
    const ids = [...this.#waiters.keys()];
    try {
      if (ids.length > 0) {
        for (const row of await this.#q('getReady', [ids])) {
          const id = String(row.task_id);
          const set = this.#waiters.get(id);
          this.#waiters.delete(id);
          let meta: ResultMeta | Error;
          try {
            meta = this.#meta(row);
          } catch (err) {
            meta = err as Error;
          }
          for (const w of set ?? []) {
            if (meta instanceof Error) w.reject(meta);
            else w.resolve(meta);
          }
        }
      }
    } catch (err) {
      // The database is unreachable: the waiters keep waiting (their own timeouts end them), like Python's get().
      void err;
    } finally {
      this.#polling = null;
      if (this.#waiters.size > 0) this.#schedule(this.o.pollMs);
    }
  }

  async forget(id: string): Promise<void> {
    await this.#q('forget', [id]);
  }

  /** GroupResult.save(): the row holds the GroupResult as Python's backend writes it (its tuple, or a pickle). */
  async saveGroup(gid: string, ids: readonly string[]): Promise<void> {
    await this.#q('saveGroup', [gid, encodeGroup(this.o.format, gid, ids), utcTimestamp(this.o.now())]);
  }

  async restoreGroup(gid: string): Promise<string[] | null> {
    const rows = await this.#q('restoreGroup', [gid]);
    const raw = rows[0]?.result;
    if (!Buffer.isBuffer(raw)) return null;
    // Either way it reads as the GroupResult's as_tuple(): [[gid, parent], [[[id, parent], children], ...]].
    return groupIds(decodeStored(raw, `the stored group ${gid}`));
  }

  async deleteGroup(gid: string): Promise<void> {
    await this.#q('deleteGroup', [gid]);
  }

  /** celery.backend_cleanup: delete rows whose date_done is older than the result expiry. */
  async cleanup(): Promise<{ tasks: number; groups: number }> {
    const cutoff = utcTimestamp(this.o.now() - this.o.expiresS * 1000);
    const t = await this.pool.query({ text: this.o.statements.cleanupTasks, values: [cutoff] });
    const g = await this.pool.query({ text: this.o.statements.cleanupGroups, values: [cutoff] });
    return { tasks: t.rowCount ?? 0, groups: g.rowCount ?? 0 };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#polling !== null) clearTimeout(this.#polling);
    const gone = Object.assign(new Error('result store closed'), { name: 'ConnectionError' });
    for (const set of this.#waiters.values()) for (const w of set) w.reject(gone);
    this.#waiters.clear();
    await this.pool.end();
  }
}
