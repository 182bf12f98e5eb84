// Opening the database result store: a small bounded node-postgres pool per child (pg was chosen by measurement:
// docs/celery-results.md), the tables created when missing — as a Python worker does on first use — the columns
// Celery 5.7 added looked up once (and added, as Celery 5.7 does, unless writing for Celery ≤ 5.6), and a log line
// per connection trouble with the redacted URL and the error code.
import pg from 'pg';
import { redactUrl } from '../../../config/redact.js';
import type { ResultStoreOptions } from './index.js';
import { BackendUnavailableError } from '../../../client/unavailable.js';
import { connectionCode } from '../../../log/connection.js';
import { DatabaseResultStore, transient } from './database.js';
import type { Logger } from 'pino';
import type { ResultFormat } from './database-codec.js';
import {
  DEFAULT_LAYOUT,
  groupTableDdl,
  ident,
  statements,
  sqlNames,
  taskTableDdl,
  type TableLayout,
  type TaskColumns,
} from './database-sql.js';
import { databaseTarget } from './database-url.js';

/** What the database store needs beyond the common options (the settings CELERY_DATABASE_*). */
export interface DatabaseSettings {
  poolSize: number;
  layout: TableLayout;
  extended: boolean;
  /** CELERY_DATABASE_PICKLE_RESULTS: `pickle` for Celery ≤ 5.6 clients, else `json` (Celery 5.7). */
  format: ResultFormat;
}

// timestamp without time zone (OID 1114) as text: node-postgres would read it in the process's local zone, and
// Celery's date_done holds UTC.
const TIMESTAMP = 1114;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === TIMESTAMP
      ? (v: string) => v
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Python's prepare_models retries create_all this often: two workers creating the tables at once may collide. */
const CREATE_ATTEMPTS = 10;

async function ensureTables(pool: pg.Pool, layout: TableLayout): Promise<void> {
  const names = sqlNames(layout);
  for (let attempt = 1; ; attempt++) {
    try {
      const { rows } = await pool.query<{ t: string | null; g: string | null }>(
        'SELECT to_regclass($1)::text AS t, to_regclass($2)::text AS g',
        [names.taskReg, names.groupReg],
      );
      // Like SQLAlchemy's create_all: only what is missing, so a role without CREATE works on existing tables.
      const ddl = [...(rows[0]?.t ? [] : taskTableDdl(layout)), ...(rows[0]?.g ? [] : groupTableDdl(layout))];
      for (const stmt of ddl) await pool.query(stmt);
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      // 23505/42P07: another process created it between our check and our CREATE; look again.
      if (attempt >= CREATE_ATTEMPTS || (code !== '23505' && code !== '42P07')) throw err;
      await new Promise((r) => setTimeout(r, 10 * 2 ** attempt));
    }
  }
}

const NEWER = ['children', 'stamps'] as const;

async function taskColumns(pool: pg.Pool, layout: TableLayout): Promise<TaskColumns> {
  const { rows } = await pool.query<{ attname: string }>(
    'SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ' +
      'AND attname = ANY($2::text[])',
    [sqlNames(layout).taskReg, NEWER],
  );
  const has = new Set(rows.map((r) => r.attname));
  return { children: has.has('children'), stamps: has.has('stamps') };
}

/**
 * The task table's Celery 5.7 columns. A table an older Celery made lacks `children`/`stamps`: in json mode they
 * are added as Celery 5.7's prepare_models adds them (nullable bytea; a role without ALTER gets a warning and the
 * store works without them); in pickle mode the table is left as the older clients made it.
 */
async function ensureColumns(pool: pg.Pool, s: DatabaseSettings, logger: Logger): Promise<TaskColumns> {
  const cols = await taskColumns(pool, s.layout);
  if (s.format === 'pickle' || (cols.children && cols.stamps)) return cols;
  const table = sqlNames(s.layout).task;
  for (const c of NEWER.filter((n) => !cols[n])) {
    const stmt = `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${ident(c)} BYTEA`;
    try {
      await pool.query(stmt);
    } catch (err) {
      logger.warn({ table, column: c, statement: stmt, err }, 'result table column missing and not added');
    }
  }
  return taskColumns(pool, s.layout);
}

export async function openDatabaseResults(url: string, o: ResultStoreOptions): Promise<DatabaseResultStore> {
  const t = databaseTarget(url);
  const s: DatabaseSettings = o.database ?? { poolSize: 4, layout: DEFAULT_LAYOUT, extended: false, format: 'json' };
  const pool = new pg.Pool({
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
    ssl: t.ssl,
    application_name: t.applicationName ?? 'task-backend-worker',
    connectionTimeoutMillis: t.connectTimeoutMs ?? o.connectTimeoutMs,
    max: s.poolSize,
    idleTimeoutMillis: 30_000,
    types,
    ...(t.options !== undefined ? { options: t.options } : {}),
  });
  const where = redactUrl(url);
  // An idle connection that breaks (server restart) is dropped by the pool; the next query opens a new one.
  let store: DatabaseResultStore | null = null;
  pool.on('error', (err: Error) => store?.connectionLost(err));
  let columns: TaskColumns;
  try {
    await ensureTables(pool, s.layout);
    columns = await ensureColumns(pool, s, o.logger);
  } catch (err) {
    await pool.end().catch(() => undefined);
    // Not reachable (yet): the child's retryable boot failure, in the client's words; anything else as it is.
    if (transient(err)) throw new BackendUnavailableError('the Celery result backend', where, connectionCode(err), 1);
    const e = err as Error & { code?: string };
    throw Object.assign(new Error(`result backend ${where}: ${e.message}`), { code: e.code });
  }
  return (store = new DatabaseResultStore(pool, {
    statements: statements(s.layout, columns),
    extended: s.extended,
    format: s.format,
    columns,
    expiresS: o.expiresS,
    pollMs: 20,
    now: Date.now,
    logger: o.logger,
    where,
  }));
}
