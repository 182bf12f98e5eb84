// Opening the database result store: a small bounded node-postgres pool per child (pg was chosen by measurement:
// docs/celery-results.md), the tables created when missing — as a Python worker does on first use — and a log line
// per connection trouble with the redacted URL and the error code.
import pg from 'pg';
import { redactUrl } from '../../../config/redact.js';
import type { ResultStoreOptions } from './index.js';
import { BackendUnavailableError } from '../../../client/unavailable.js';
import { connectionCode } from '../../../log/connection.js';
import { DatabaseResultStore, transient } from './database.js';
import { DEFAULT_LAYOUT, groupTableDdl, statements, sqlNames, taskTableDdl, type TableLayout } from './database-sql.js';
import { databaseTarget } from './database-url.js';

/** What the database store needs beyond the common options (the settings CELERY_DATABASE_*). */
export interface DatabaseSettings {
  poolSize: number;
  layout: TableLayout;
  extended: boolean;
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

export async function openDatabaseResults(url: string, o: ResultStoreOptions): Promise<DatabaseResultStore> {
  const t = databaseTarget(url);
  const s: DatabaseSettings = o.database ?? { poolSize: 4, layout: DEFAULT_LAYOUT, extended: false };
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
  try {
    await ensureTables(pool, s.layout);
  } catch (err) {
    await pool.end().catch(() => undefined);
    // Not reachable (yet): the child's retryable boot failure, in the client's words; anything else as it is.
    if (transient(err)) throw new BackendUnavailableError('the Celery result backend', where, connectionCode(err), 1);
    const e = err as Error & { code?: string };
    throw Object.assign(new Error(`result backend ${where}: ${e.message}`), { code: e.code });
  }
  return (store = new DatabaseResultStore(pool, {
    statements: statements(s.layout),
    extended: s.extended,
    expiresS: o.expiresS,
    pollMs: 20,
    now: Date.now,
    logger: o.logger,
    where,
  }));
}
