// The SQL of Celery's database result backend, pure: the tables exactly as celery/backends/database/models.py
// declares them in Celery 5.7 (SQLAlchemy's DDL for PostgreSQL: the id from a client-side Sequence,
// task_id/taskset_id unique, result/children/stamps LargeBinary = bytea, date_done a naive DateTime holding UTC and
// indexed, the extended columns always present), and the statements the store runs — shaped by the columns an
// existing (older) table really has. Table names and schemas are configurable
// like Celery's database_table_names / database_table_schemas; each sequence lives in its table's schema.

export interface TableNames {
  task: string;
  group: string;
}

export interface TableLayout {
  names: TableNames;
  /** null: unqualified (the connection's search_path decides, as for SQLAlchemy without a schema). */
  schemas: { task: string | null; group: string | null };
}

export const DEFAULT_LAYOUT: TableLayout = {
  names: { task: 'celery_taskmeta', group: 'celery_tasksetmeta' },
  schemas: { task: null, group: null },
};

/** A quoted SQL identifier. */
export const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`;
const qualified = (schema: string | null, name: string): string =>
  schema === null ? ident(name) : `${ident(schema)}.${ident(name)}`;

/** Every name the store uses, quoted and qualified. */
export interface Sql {
  task: string;
  group: string;
  taskSeq: string;
  groupSeq: string;
  /** For to_regclass(): `schema.name` as text, quoted. */
  taskReg: string;
  groupReg: string;
}

export function sqlNames(l: TableLayout): Sql {
  return {
    task: qualified(l.schemas.task, l.names.task),
    group: qualified(l.schemas.group, l.names.group),
    taskSeq: qualified(l.schemas.task, 'task_id_sequence'),
    groupSeq: qualified(l.schemas.group, 'taskset_id_sequence'),
    taskReg: qualified(l.schemas.task, l.names.task),
    groupReg: qualified(l.schemas.group, l.names.group),
  };
}

/** CREATE statements for the task table (run only when to_regclass says it is missing, as create_all does). */
export function taskTableDdl(l: TableLayout): string[] {
  const s = sqlNames(l);
  return [
    `CREATE SEQUENCE IF NOT EXISTS ${s.taskSeq}`,
    `CREATE TABLE IF NOT EXISTS ${s.task} (
      id INTEGER NOT NULL,
      task_id VARCHAR(155),
      status VARCHAR(50),
      result BYTEA,
      date_done TIMESTAMP WITHOUT TIME ZONE,
      traceback TEXT,
      children BYTEA,
      name VARCHAR(155),
      args BYTEA,
      kwargs BYTEA,
      worker VARCHAR(155),
      retries INTEGER,
      queue VARCHAR(155),
      stamps BYTEA,
      PRIMARY KEY (id),
      UNIQUE (task_id)
    )`,
    `CREATE INDEX IF NOT EXISTS ${ident(`ix_${l.names.task}_date_done`)} ON ${s.task} (date_done)`,
  ];
}

export function groupTableDdl(l: TableLayout): string[] {
  const s = sqlNames(l);
  return [
    `CREATE SEQUENCE IF NOT EXISTS ${s.groupSeq}`,
    `CREATE TABLE IF NOT EXISTS ${s.group} (
      id INTEGER NOT NULL,
      taskset_id VARCHAR(155),
      result BYTEA,
      date_done TIMESTAMP WITHOUT TIME ZONE,
      PRIMARY KEY (id),
      UNIQUE (taskset_id)
    )`,
    `CREATE INDEX IF NOT EXISTS ${ident(`ix_${l.names.group}_date_done`)} ON ${s.group} (date_done)`,
  ];
}

const EXTENDED = ['name', 'args', 'kwargs', 'worker', 'retries', 'queue'] as const;

/** The named statements (node-postgres parses each once per connection). */
export interface Statements {
  /** $1 task_id, $2 status, $3 result, $4 date_done, $5 traceback[, $6 children when the table has it]. */
  store: string;
  /** Same, then name, args, kwargs, worker, retries, queue. */
  storeExtended: string;
  get: string;
  getMany: string;
  /** Only rows in a ready state (waitReady polls with it). */
  getReady: string;
  forget: string;
  saveGroup: string;
  restoreGroup: string;
  deleteGroup: string;
  /** $1 = the cut-off (naive UTC). */
  cleanupTasks: string;
  cleanupGroups: string;
}

const COLUMNS = 'task_id, status, result, date_done, traceback, name, args, kwargs, worker, retries, queue';

/** The Celery 5.7 columns an existing task table has (a table an older Celery created lacks them). */
export interface TaskColumns {
  children: boolean;
  stamps: boolean;
}

export const ALL_COLUMNS: TaskColumns = { children: true, stamps: true };

/**
 * The statements for a task table with `cols`. `children` is written (and read) only where it exists; `stamps` is
 * only read — this worker stamps nothing, and leaving it out of the upsert keeps what a Python worker stored, as
 * Celery's own update does.
 */
export function statements(l: TableLayout, cols: TaskColumns = ALL_COLUMNS): Statements {
  const s = sqlNames(l);
  const extra = cols.children ? ['children'] : [];
  const selected = [COLUMNS, ...extra, ...(cols.stamps ? ['stamps'] : [])].join(', ');
  // A stored SUCCESS is kept (Celery's Redis backend guards against duplicate deliveries the same way).
  const upsert = (ext: readonly string[]): string => {
    const all = ['task_id', 'status', 'result', 'date_done', 'traceback', ...extra, ...ext];
    const values = all.map((_, i) => `$${i + 1}`).join(', ');
    const set = all
      .slice(1)
      .map((c) => `${c} = EXCLUDED.${c}`)
      .join(', ');
    return (
      `INSERT INTO ${s.task} (id, ${all.join(', ')}) VALUES (nextval('${s.taskSeq.replace(/'/g, "''")}'), ${values}) ` +
      `ON CONFLICT (task_id) DO UPDATE SET ${set} WHERE ${s.task}.status IS DISTINCT FROM 'SUCCESS'`
    );
  };
  return {
    store: upsert([]),
    storeExtended: upsert(EXTENDED),
    get: `SELECT ${selected} FROM ${s.task} WHERE task_id = $1`,
    getMany: `SELECT ${selected} FROM ${s.task} WHERE task_id = ANY($1::varchar[])`,
    getReady: `SELECT ${selected} FROM ${s.task} WHERE task_id = ANY($1::varchar[]) AND status IN ('SUCCESS', 'FAILURE', 'REVOKED')`,
    forget: `DELETE FROM ${s.task} WHERE task_id = $1`,
    saveGroup:
      `INSERT INTO ${s.group} (id, taskset_id, result, date_done) ` +
      `VALUES (nextval('${s.groupSeq.replace(/'/g, "''")}'), $1, $2, $3) ` +
      'ON CONFLICT (taskset_id) DO UPDATE SET result = EXCLUDED.result, date_done = EXCLUDED.date_done',
    restoreGroup: `SELECT result FROM ${s.group} WHERE taskset_id = $1`,
    deleteGroup: `DELETE FROM ${s.group} WHERE taskset_id = $1`,
    cleanupTasks: `DELETE FROM ${s.task} WHERE date_done < $1`,
    cleanupGroups: `DELETE FROM ${s.group} WHERE date_done < $1`,
  };
}

/** A naive UTC timestamp as PostgreSQL reads it (what SQLAlchemy stores from Celery's app.now()). */
export function utcTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** `task=name,group=name` (a settings value) → the two names, keeping defaults for the ones not given. */
export function parseTablePairs(items: readonly string[], what: string): Partial<TableNames> {
  const out: Partial<TableNames> = {};
  for (const item of items) {
    const m = /^\s*(task|group)\s*=\s*([A-Za-z_][A-Za-z0-9_$]*)\s*$/.exec(item);
    if (!m) throw new Error(`${what}: "${item}" is not task=<name> or group=<name>`);
    out[m[1] as keyof TableNames] = m[2]!;
  }
  return out;
}
