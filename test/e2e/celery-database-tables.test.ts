// Tables an older Celery (≤ 5.6) made, without Celery 5.7's children/stamps columns, on a real PostgreSQL: in the
// default (JSON) mode the store adds them as Celery 5.7's prepare_models does; a role that may not ALTER the table
// gets one warning per column and a store that reads and writes without them; in pickle mode the table is left as
// it is. Every store reads back what it wrote, in the format it was told to write.
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { openResultStore } from '../../src/backends/celery/results/index.js';
import type { ResultFormat } from '../../src/backends/celery/results/database-codec.js';
import { startPostgres } from '../helpers/postgres.js';

// Celery 5.5's models as SQLAlchemy 2.0 created them (no children, no stamps, no date_done index).
const OLD_TASK = (name: string): string => `CREATE TABLE ${name} (
  id INTEGER NOT NULL, task_id VARCHAR(155), status VARCHAR(50), result BYTEA, date_done TIMESTAMP WITHOUT TIME ZONE,
  traceback TEXT, name VARCHAR(155), args BYTEA, kwargs BYTEA, worker VARCHAR(155), retries INTEGER,
  queue VARCHAR(155), PRIMARY KEY (id), UNIQUE (task_id))`;

void t.test('older tables keep working', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  await pg.psql(
    [
      'CREATE SEQUENCE task_id_sequence',
      'CREATE SEQUENCE taskset_id_sequence',
      OLD_TASK('old_json'),
      OLD_TASK('old_denied'),
      OLD_TASK('old_pickle'),
      'CREATE TABLE old_groups (id INTEGER NOT NULL, taskset_id VARCHAR(155), result BYTEA, ' +
        'date_done TIMESTAMP WITHOUT TIME ZONE, PRIMARY KEY (id), UNIQUE (taskset_id))',
      "CREATE ROLE limited LOGIN PASSWORD 'limited'",
      'GRANT SELECT, INSERT, UPDATE, DELETE ON old_denied, old_groups TO limited',
      'GRANT USAGE ON SEQUENCE task_id_sequence, taskset_id_sequence TO limited',
    ].join('; '),
  );
  const columns = (table: string): Promise<string> =>
    pg.psql(
      `SELECT string_agg(column_name || ' ' || data_type, ',' ORDER BY column_name) FROM information_schema.columns ` +
        `WHERE table_name = '${table}' AND column_name IN ('children', 'stamps')`,
    );

  const open = async (table: string, format: ResultFormat, who = `${pg.user}:${pg.password}`) => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    });
    const store = await openResultStore(`db+postgresql://${who}@127.0.0.1:${pg.port}/${pg.database}`, {
      logger: pino({ level: 'warn' }, sink),
      expiresS: 86_400,
      connectTimeoutMs: 5000,
      broker: null,
      database: {
        poolSize: 2,
        extended: true,
        format,
        layout: { names: { task: table, group: 'old_groups' }, schemas: { task: null, group: null } },
      },
    });
    t.teardown(() => store.close());
    return { store, lines };
  };
  const roundTrip = async (
    t: Test,
    store: Awaited<ReturnType<typeof open>>['store'],
    table: string,
    firstByte: number,
  ): Promise<void> => {
    await store.store(`${table}-1`, { status: 'SUCCESS', result: { v: [1, 'é'] }, name: 'n', args: [], kwargs: {} });
    t.same((await store.get(`${table}-1`))?.result, { v: [1, 'é'] }, 'reads back what it wrote');
    t.equal(
      await pg.psql(`SELECT get_byte(result, 0) FROM ${table} WHERE task_id = '${table}-1'`),
      String(firstByte),
      firstByte === 128 ? 'a pickle' : 'JSON',
    );
    await store.saveGroup(`g-${table}`, ['a', 'b']);
    t.same(await store.restoreGroup(`g-${table}`), ['a', 'b'], 'a group too');
  };

  await t.test('JSON mode: the columns are added, as Celery 5.7 adds them', async (t) => {
    const { store, lines } = await open('old_json', 'json');
    t.equal(await columns('old_json'), 'children bytea,stamps bytea');
    t.same(lines, [], 'no warning');
    await roundTrip(t, store, 'old_json', '{'.charCodeAt(0));
  });

  await t.test('JSON mode, a role that may not ALTER: a warning per column, and the store works', async (t) => {
    const { store, lines } = await open('old_denied', 'json', 'limited:limited');
    t.equal(await columns('old_denied'), '', 'still the older shape');
    t.same(
      lines.map((l) => [l.msg, l.column]),
      [
        ['result table column missing and not added', 'children'],
        ['result table column missing and not added', 'stamps'],
      ],
    );
    t.match(String(lines[0]?.statement), /ALTER TABLE "old_denied" ADD COLUMN IF NOT EXISTS "children" BYTEA/);
    await roundTrip(t, store, 'old_denied', '{'.charCodeAt(0));
  });

  await t.test('pickle mode: the table is left as the older clients made it', async (t) => {
    const { store, lines } = await open('old_pickle', 'pickle');
    t.equal(await columns('old_pickle'), '', 'no columns added');
    t.same(lines, []);
    await roundTrip(t, store, 'old_pickle', 128);
  });
});
