// Database result backend URLs (SQLAlchemy's forms, libpq's parameters) and the SQL built from the table settings.
import t from 'tap';
import { databaseTarget, databaseUrlProblem } from '../../src/backends/celery/results/database-url.js';
import {
  DEFAULT_LAYOUT,
  parseTablePairs,
  sqlNames,
  statements,
  taskTableDdl,
  utcTimestamp,
} from '../../src/backends/celery/results/database-sql.js';

void t.test('every SQLAlchemy PostgreSQL form points at the same server', async (t) => {
  for (const scheme of ['db+postgresql', 'db+postgresql+psycopg2', 'db+postgresql+psycopg']) {
    const d = databaseTarget(`${scheme}://svc:p%40ss@db.example:6432/results`);
    t.same(
      { host: d.host, port: d.port, user: d.user, password: d.password, database: d.database, ssl: d.ssl },
      { host: 'db.example', port: 6432, user: 'svc', password: 'p@ss', database: 'results', ssl: false },
      scheme,
    );
  }
  t.equal(databaseTarget('db+postgresql://u@h/d').port, 5432, 'default port');
  t.equal(
    databaseTarget('db+postgresql://u@h/d?options=-csearch_path%3Dcelery').options,
    '-csearch_path=celery',
    'the schema option reaches the server as libpq options',
  );
});

void t.test('sslmode as libpq reads it', async (t) => {
  const files = (p: string): Buffer => Buffer.from(`PEM ${p}`);
  t.equal(databaseTarget('db+postgresql://u@h/d?sslmode=disable').ssl, false);
  t.equal(databaseTarget('db+postgresql://u@h/d?sslmode=prefer').ssl, false, 'prefer: no fallback in node-postgres');
  const req = databaseTarget('db+postgresql://u@h/d?sslmode=require', files);
  t.equal(req.ssl && req.ssl.rejectUnauthorized, false, 'require: encrypted, not verified');
  const reqCa = databaseTarget('db+postgresql://u@h/d?sslmode=require&sslrootcert=/ca.pem', files);
  t.equal(reqCa.ssl && reqCa.ssl.rejectUnauthorized, true, 'require with a root cert verifies, as libpq does');
  const ca = databaseTarget('db+postgresql://u@h/d?sslmode=verify-ca&sslrootcert=/ca.pem', files);
  t.ok(ca.ssl && ca.ssl.checkServerIdentity, 'verify-ca: chain only, not the host name');
  const full = databaseTarget('db+postgresql://u@h/d?sslmode=verify-full&sslcert=/c.pem&sslkey=/k.pem', files);
  t.ok(full.ssl && full.ssl.rejectUnauthorized && !full.ssl.checkServerIdentity, 'verify-full: chain and host');
  t.same(full.ssl && [String(full.ssl.cert), String(full.ssl.key)], ['PEM /c.pem', 'PEM /k.pem']);
});

void t.test('bad URLs are refused by name', async (t) => {
  t.match(databaseUrlProblem('db+mysql://u@h/d'), /only PostgreSQL/);
  t.match(databaseUrlProblem('db+postgresql://u@h/'), /names no database/);
  t.match(databaseUrlProblem('db+postgresql://u@h/d?sslmode=sometimes'), /sslmode=sometimes/);
  t.match(databaseUrlProblem('db+postgresql://u@h/d?pool_size=3'), /unsupported parameter pool_size/);
  t.equal(databaseUrlProblem('db+postgresql://u:p@h:1/d?sslmode=require&connect_timeout=5'), null);
});

void t.test('table names and schemas (database_table_names / database_table_schemas)', async (t) => {
  const layout = {
    names: { task: 'my_tasks', group: 'my_groups' },
    schemas: { task: 'celery', group: null },
  };
  const names = sqlNames(layout);
  t.equal(names.task, '"celery"."my_tasks"');
  t.equal(names.taskSeq, '"celery"."task_id_sequence"', 'the sequence lives in its table’s schema');
  t.equal(names.group, '"my_groups"');
  t.match(taskTableDdl(layout).join('\n'), /CREATE INDEX IF NOT EXISTS "ix_my_tasks_date_done" ON "celery"."my_tasks"/);
  const st = statements(DEFAULT_LAYOUT);
  t.match(st.store, /nextval\('"task_id_sequence"'\)/, 'ids from the sequence, as SQLAlchemy inserts them');
  t.match(st.store, /IS DISTINCT FROM 'SUCCESS'/, 'a stored SUCCESS is kept');
  t.same(parseTablePairs(['task=a', 'group=b'], 'x'), { task: 'a', group: 'b' });
  t.throws(() => parseTablePairs(['tasks=a'], 'CELERY_DATABASE_TABLE_NAMES'), /CELERY_DATABASE_TABLE_NAMES/);
  t.throws(() => parseTablePairs(['task=a;drop'], 'x'), /task=<name>/, 'only plain identifiers');
  t.equal(utcTimestamp(Date.UTC(2024, 0, 2, 3, 4, 5, 6)), '2024-01-02 03:04:05.006');
});
