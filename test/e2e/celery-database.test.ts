// Celery's database result backend on a real PostgreSQL, with real Python Celery (SQLAlchemy + psycopg) as client
// and as a second worker on the same broker and database: our worker creates the tables on a fresh database exactly
// as SQLAlchemy would, Python reads our results (values, failures with their type, extended columns), chords finish
// through celery.chord_unlock whoever runs which part, groups, forget, link/link_error, Celery's built-in canvas
// tasks, messages without a task id, and the cleanup job. Written against the harness's broker URL. The Python side
// runs under every Celery at hand (TBW_TEST_PYTHON and the venv's, when they differ): Celery 5.7 with our default
// JSON results on tables we create, Celery ≤ 5.6 with CELERY_DATABASE_PICKLE_RESULTS on tables its SQLAlchemy
// models made (the older shape, without children/stamps), which must be left as they are.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createClient } from '../../src/backends/celery/client.js';
import { databaseSettings, openResultStore } from '../../src/backends/celery/results/index.js';
import { compileConfig } from '../../src/config/compile.js';
import { currentHost } from '../../src/config/load.js';
import { pino } from 'pino';
import { startPostgres } from '../helpers/postgres.js';
import { freePort, startRedis } from '../helpers/redis.js';
import { FIXTURE_TASKS, PYTHON, VENV_PYTHON, runPython, startWorker, checksOf } from './celery-harness.js';
import { startPythonWorker } from './py-worker.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Columns, constraints, sequences and indexes of the two Celery tables, as text to compare. */
// (pg_indexes also lists the indexes behind the constraints; the names and columns are what is compared.)
const SHAPE_SQL = `
SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '')
       || ' ' || is_nullable || ' ' || coalesce(column_default, '-')
  FROM information_schema.columns WHERE table_name IN ('celery_taskmeta', 'celery_tasksetmeta')
UNION ALL
SELECT 'con ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conrelid IN ('celery_taskmeta'::regclass, 'celery_tasksetmeta'::regclass)
UNION ALL
SELECT 'seq ' || sequencename || ' ' || data_type || ' ' || start_value || ' ' || increment_by FROM pg_sequences
UNION ALL
SELECT 'idx ' || indexname || ' ' || indexdef FROM pg_indexes WHERE tablename IN ('celery_taskmeta', 'celery_tasksetmeta')
ORDER BY 1`;

const CREATE_ALL =
  'import sys; from sqlalchemy import create_engine; import celery.backends.database.models; ' +
  'from celery.backends.database.session import ResultModelBase as B; ' +
  'B.metadata.create_all(create_engine(sys.argv[1]))';

/** Every Celery at hand (TBW_TEST_PYTHON's, the venv's), each version once, with its Python. */
async function pythons(): Promise<{ python: string; celery: string }[]> {
  const out: { python: string; celery: string }[] = [];
  for (const python of new Set([PYTHON, VENV_PYTHON])) {
    if (python !== PYTHON && !existsSync(python)) continue; // the harness's own Python must exist (it fails loudly)
    const { stdout } = await run(python, ['-c', 'import celery; print(celery.__version__)']);
    if (!out.some((o) => o.celery === stdout.trim())) out.push({ python, celery: stdout.trim() });
  }
  return out;
}

/** Celery 5.7 reads and writes serializer-encoded results; older releases only pickles. */
const pickles = (version: string): boolean => {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major < 5 || (major === 5 && minor < 7);
};

for (const { python, celery } of await pythons()) {
  void t.test(`Celery ${celery} (${pickles(celery) ? 'pickled results' : 'JSON results'})`, (t) =>
    scenario(t, python, pickles(celery)),
  );
}

/**
 * Python Celery and our worker on one PostgreSQL. One long function on purpose: every check shares the one worker,
 * broker, database and Python worker it starts (starting them per check would multiply the run time).
 */
async function scenario(t: Test, python: string, legacy: boolean): Promise<void> {
  const broker = await startRedis();
  t.teardown(() => broker.stop());
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const ours = `db+postgresql://${pg.user}:${pg.password}@127.0.0.1:${pg.port}/${pg.database}`;
  const pyUrl = ours.replace('db+postgresql://', 'db+postgresql+psycopg://');
  const saUrl = (db: string): string => `postgresql+psycopg://${pg.user}:${pg.password}@127.0.0.1:${pg.port}/${db}`;
  const tmp = mkdtempSync(join(tmpdir(), 'tbw-db-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const env = {
    CELERY_RESULT_BACKEND: ours,
    CELERY_RESULT_EXTENDED: 'true',
    CELERY_TRACK_STARTED: 'true',
    CELERY_RESULT_CLEANUP_INTERVAL: '2s', // the pool's cleanup job, first run after one interval
    ...(legacy ? { CELERY_DATABASE_PICKLE_RESULTS: 'true' } : {}),
  };
  // An older Celery's tables, made by its own models before our worker starts: it must use them as they are.
  if (legacy) await run(python, ['-c', CREATE_ALL, saUrl(pg.database)]);

  const metricsPort = await freePort();
  const w = startWorker(
    broker.url,
    ['-c', '2', '-Q', 'celery', '--tasks', FIXTURE_TASKS, '--metrics-port', String(metricsPort)],
    env,
  );
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');

  await t.test(
    legacy
      ? 'an older Celery’s tables are used as they are'
      : 'a fresh database gets the tables SQLAlchemy would create',
    async (t) => {
      const tables = await pg.psql(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'celery_%'",
      );
      t.equal(tables, 'celery_taskmeta,celery_tasksetmeta', 'both tables are there');
      await pg.psql('CREATE DATABASE sa_made', 'postgres');
      await run(python, ['-c', CREATE_ALL, saUrl('sa_made')]);
      const mine = await pg.psql(SHAPE_SQL);
      const theirs = await pg.psql(SHAPE_SQL, 'sa_made');
      t.equal(mine, theirs, 'columns, types, constraints, sequences and indexes match SQLAlchemy’s');
      const children = await pg.psql(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'celery_taskmeta' AND column_name = 'children'",
      );
      t.equal(children, legacy ? '0' : '1', legacy ? 'no children column: the older shape' : 'Celery 5.7’s children');
    },
  );

  // A group our store saves (Python restores it below) and the Python worker on queue "py".
  const store = await openResultStore(ours, {
    logger: pino({ level: 'silent' }),
    expiresS: 86_400,
    connectTimeoutMs: 5000,
    broker: null,
    database: databaseSettings(compileConfig({ env, host: currentHost(env) }).celery),
  });
  t.teardown(() => store.close());
  await store.saveGroup('grp-ours-1', ['a-1', 'a-2']);
  const pyEnv = { TBW_BROKER_URL: broker.url, TBW_DB_BACKEND_URL: pyUrl, TBW_TMP: tmp };
  const py = await startPythonWorker(
    'db_app',
    ['-Q', 'py', '-c', '2', '-P', 'prefork', '-n', 'py-db@%h', '-l', 'INFO'],
    pyEnv,
    python,
  );
  t.teardown(() => py.killGroup());

  Object.assign(process.env, pyEnv);
  const checks = await runPython('db_checks.py', [], 240_000, python);
  const { by, ok, raises } = checksOf(t, checks);

  ok('args', 5);
  ok('kwargs', 42);
  raises('type_error', 'TypeError', /missing 1 required positional argument/);
  raises('custom_error', 'KeyError', /missing/);
  raises('domain_error', 'PaymentDeclined', /no money/);
  ok('values', [null, true, 1.5, -7, 2 ** 40, 'é☃', [1, [2]], { k: { n: null } }]);
  const ext = by.get('extended')?.value as Record<string, unknown> | undefined;
  t.same(
    ext,
    {
      state: 'SUCCESS',
      name: 'add_numbers',
      args: [2, 3],
      kwargs: {},
      queue: 'celery',
      worker: true,
      retries: 0,
      date_done: true,
    },
    'extended columns as Python reads them',
  );
  ok('states', {
    pending: 'PENDING',
    started: 'STARTED',
    started_pid: true,
    retry: 'RETRY',
    revoked: ['REVOKED', 'TaskRevokedError'],
    date_done_utc: true,
  });
  const fs = by.get('failure_state')?.value as [string, string, string, boolean] | undefined;
  t.same(fs?.slice(0, 2), ['FAILURE', 'KeyError'], 'FAILURE with the exception type');
  t.equal(fs?.[3], true, 'the traceback text is stored');
  ok('forget', 'PENDING');
  ok('group', [[0, 2, 4], true]);
  ok('restore_ours', ['grp-ours-1', ['a-1', 'a-2']]);
  ok('link', 103);
  const le = by.get('link_error')?.value as [string[], string] | undefined;
  t.same(le?.[0], [le?.[1]], 'the errback gets the failed task’s id (an old-style errback, as Celery calls it)');
  ok('map', ['Echo: a', 'Echo: b']);
  ok('starmap', [3, 7]);
  ok('chunks', [[0, 2], [4, 6], [8]]);
  ok('chunks_task', [[0, 2], [4, 6], [8]]);
  ok('accumulate', [[1, 2, 3], 2]);
  ok('chord', 20);
  const cf = by.get('chord_failure')?.value as [string, string, string] | undefined;
  t.equal(cf?.[0], 'FAILURE', 'the chord body is marked FAILURE');
  t.equal(cf?.[1], 'ChordError');
  t.match(cf?.[2] ?? '', /Dependency .+ raised ValueError\('bad part'\)/);
  const pyf = by.get('py_unlock_failure')?.value as [string, string, string] | undefined;
  t.same(pyf?.slice(0, 2), ['FAILURE', 'ChordError'], 'the same chord unlocked by Python fails the same way');
  // Python's chord_unlock means to say "Dependency <id> raised ..." too, but on this backend its culprit lookup
  // only sees cached (successful) results, so it says only the repr; ours names the part (docs/celery-results.md).
  t.equal(pyf?.[2], "ValueError('bad part')", 'Python’s message');
  t.ok(cf?.[2].endsWith(` raised ${pyf?.[2]}`), 'ours ends with the same repr and names the failed part');
  ok('workflow', 33);
  ok('hybrid', 'hybrid');
  ok('protocol1_no_id', 'v1');
  ok('backend_cleanup', null);
  ok('mixed_py_header', 12);
  ok('mixed_py_unlock', 12);
  ok('mixed_our_chord', 36);
  // get() re-raises the failed header part first (the body's parent), as with a Python-only chord.
  raises('mixed_py_failure', 'ValueError', /py part/);

  await t.test(`results are stored as ${legacy ? 'pickles' : 'JSON'}, as this Celery writes them`, async (t) => {
    const counts = await pg.psql(
      "SELECT count(*) FILTER (WHERE get_byte(result, 0) = 128) || ',' || count(*) FROM celery_taskmeta WHERE name = 'add_numbers' AND result IS NOT NULL",
    );
    const [pickled, all] = counts.split(',').map(Number);
    t.ok((all ?? 0) > 10, `our worker stored add_numbers results (${all})`);
    t.equal(pickled, legacy ? all : 0, 'pickles only for an older Celery');
    const group = await pg.psql("SELECT get_byte(result, 0) FROM celery_tasksetmeta WHERE taskset_id = 'grp-ours-1'");
    t.equal(group, legacy ? '128' : String('['.charCodeAt(0)), 'the group row too (a pickle, or its JSON tuple)');
  });

  if (!legacy) {
    await t.test('Celery 5.7 reads a pickled row too (pickle mode, older Celery), with a warning', async (t) => {
      const pickler = await openResultStore(ours, {
        logger: pino({ level: 'silent' }),
        expiresS: 86_400,
        connectTimeoutMs: 5000,
        broker: null,
        database: { ...databaseSettings(compileConfig({ env, host: currentHost(env) }).celery), format: 'pickle' },
      });
      await pickler.store('pickled-1', { status: 'SUCCESS', result: { a: [1, 'é'] } });
      await pickler.close();
      const { stdout, stderr } = await run(python, [
        '-c',
        'import sys, json, logging; from celery import Celery; logging.basicConfig(); ' +
          "print(json.dumps(Celery(backend=sys.argv[1]).AsyncResult('pickled-1').get(timeout=10)))",
        pyUrl,
      ]);
      t.same(JSON.parse(stdout), { a: [1, 'é'] });
      t.match(stderr, /falling back to pickle/, 'Celery 5.7 warns');
    });
  }

  await t.test('nothing is stored for a message without a task id; both ran on our worker', async (t) => {
    t.equal(
      await pg.psql("SELECT count(*) FROM celery_taskmeta WHERE task_id IS NULL OR name = 'tbw_test.touch'"),
      '0',
    );
    t.equal(await pg.psql("SELECT count(*) FROM celery_taskmeta WHERE name = 'celery.chord_unlock'"), '0');
  });

  await t.test('messages without a task id are counted on /metrics', async (t) => {
    // The hybrid one and the protocol-1 one above; heartbeats carry the count, so it may take one beat.
    const re = /^tbw_backend_events_total\{backend="celery",event="messages_without_id"\} (\d+)$/m;
    let seen = -1;
    for (let i = 0; i < 40 && seen < 2; i++) {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      seen = Number(re.exec(text)?.[1] ?? -1);
      if (seen < 2) await new Promise((r) => setTimeout(r, 250));
    }
    t.equal(seen, 2, 'two messages without an id, counted across the children');
  });

  const client = createClient(
    compileConfig({ env: { CELERY_BROKER_URL: broker.url, ...env }, host: currentHost(env) }),
  );
  t.teardown(() => client.close());

  await t.test('we read a result a Python worker wrote', async (t) => {
    const { id } = await client.submit('py.add', { args: [20, 22], queue: 'py' });
    t.equal(await client.result(id, { timeoutMs: 20_000 }), 42);
  });

  await t.test('celery.backend_cleanup deletes rows older than the result expiry', async (t) => {
    await pg.psql(
      "INSERT INTO celery_taskmeta (id, task_id, status, date_done) VALUES (nextval('task_id_sequence'), 'old-1', " +
        "'SUCCESS', now() - interval '3 days'), (nextval('task_id_sequence'), 'new-1', 'SUCCESS', now())",
    );
    const { id } = await client.submit('celery.backend_cleanup', {});
    t.equal(await client.result(id, { timeoutMs: 20_000 }), null);
    t.equal(
      await pg.psql("SELECT string_agg(task_id, ',') FROM celery_taskmeta WHERE task_id IN ('old-1','new-1')"),
      'new-1',
    );
  });

  await t.test('the pool runs the cleanup job on one child', async (t) => {
    const line = await w.waitFor((l) => l.msg === 'expired results deleted', 10_000, 'the cleanup job');
    t.type(line.tasks, 'number');
    t.equal(line.expiresS, 86_400);
  });

  await t.test('a stored pickle that would run code is refused, and nothing runs', async (t) => {
    const marker = join(tmp, 'pwned');
    // cos\nsystem\n(S'touch <marker>'\ntR. : os.system('touch …') on unpickling; with PROTO 2 in front it is read as
    // a pickle (and refused), without it as a value that is neither a pickle nor JSON (as Celery 5.7 decides).
    const evil = (proto: string): string =>
      Buffer.from(`${proto}cos\nsystem\n(S'touch ${marker}'\ntR.`, 'latin1').toString('hex');
    await pg.psql(
      `INSERT INTO celery_taskmeta (id, task_id, status, result, date_done) VALUES (nextval('task_id_sequence'), ` +
        `'evil-1', 'SUCCESS', '\\x${evil('\x80\x02')}'::bytea, now()), (nextval('task_id_sequence'), ` +
        `'evil-2', 'SUCCESS', '\\x${evil('')}'::bytea, now())`,
    );
    await t.rejects(client.result('evil-1', { timeoutMs: 5000 }), /refused without running it|os\.system/);
    await t.rejects(client.result('evil-2', { timeoutMs: 5000 }), /neither a pickle nor JSON/);
    t.notOk(existsSync(marker), 'nothing was executed');
  });

  t.notOk(
    w.lines.some((l) => String(l.msg).startsWith('child exited')),
    'no child exited',
  );
  t.equal(await w.stop(), 0, 'warm shutdown exits 0');
}
