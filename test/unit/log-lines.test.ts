// The operator's lines, pure: pretty mode (one line per record, task and connection lines as sentences), the
// connection reporter (one line per failed attempt, "restored" once), error codes from every library's errors,
// the task lines (levels, fields, the result's short repr) and the Celery consumer's events mapped onto them.
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import t from 'tap';
import { DatabaseResultStore } from '../../src/backends/celery/results/database.js';
import { DEFAULT_LAYOUT, statements } from '../../src/backends/celery/results/database-sql.js';
import { taskLineSink } from '../../src/backends/celery/task-lines.js';
import type { Execution, Held } from '../../src/backends/celery/execute.js';
import { connectionCode, ConnectionReporter } from '../../src/log/connection.js';
import { createLogger, REDACT_OPTIONS, unredacted } from '../../src/log/logger.js';
import { pyShortRepr } from '../../src/tasks/pyfmt.js';
import { taskLines } from '../../src/tasks/task-log.js';
import { TaskError } from '../../src/tasks/types.js';

type Line = Record<string, unknown>;

function capture(level = 'debug'): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

async function prettyOf(write: (log: Logger) => void): Promise<string[]> {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const log = createLogger({ level: 'info', format: 'pretty', destination, colorize: false });
  write(log);
  await new Promise((r) => setImmediate(r));
  return chunks.join('').split('\n').filter((l) => l !== '').map((l) => l.replace(/^\[[\d:.]+\] /, '')); // prettier-ignore
}

void t.test('connectionCode: the errno code wherever a library put it', async (t) => {
  t.equal(connectionCode(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED'); // prettier-ignore
  t.equal(connectionCode(new Error('/Dispatcher/GetVersion UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1.')), 'ECONNREFUSED', 'grpc-js (Hatchet)'); // prettier-ignore
  t.equal(connectionCode(new Error('tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", 127.0.0.1:1, Os { code: 111, kind: ConnectionRefused, message: "Connection refused" })))')), 'ECONNREFUSED', "Temporal's Core (tonic)"); // prettier-ignore
  t.equal(connectionCode(new Error('dns error: failed to lookup address information')), 'ENOTFOUND');
  t.equal(connectionCode(new Error('WRONGPASS invalid username-password pair or user is disabled.')), 'WRONGPASS');
  t.equal(connectionCode(new Error('something odd\nsecond line')), 'something odd', 'else the first line');
  t.equal(connectionCode(new Error('x'.repeat(300))).length, 120, 'cut at 120 characters');
  t.equal(connectionCode(null), 'closed', 'a connection that just closed');
});

void t.test('ConnectionReporter: one WARN line per failed attempt, "restored" once at INFO', async (t) => {
  const { logger, lines } = capture('info');
  const r = new ConnectionReporter(logger, { role: 'broker', url: 'redis://:hunter2@h:6379/0' });
  r.up();
  t.equal(lines.length, 0, 'the first connect says nothing');
  r.failed(null, 104);
  r.failed(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 412);
  r.failed(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 5000);
  r.up();
  r.up();
  const at = { role: 'broker', url: 'redis://:***@h:6379/0' };
  t.match(lines, [
    { level: 40, msg: 'connection lost, reconnecting', ...at, code: 'closed', attempt: 1, retryInMs: 104 },
    { level: 40, msg: 'connection failed, retrying', ...at, code: 'ECONNREFUSED', attempt: 2, retryInMs: 412 },
    { level: 40, msg: 'connection failed, retrying', ...at, code: 'ECONNREFUSED', attempt: 3, retryInMs: 5000 },
    { level: 30, msg: 'connection restored', ...at, attempts: 3 },
  ]);
  t.equal(lines.length, 4, 'nothing else: no stack at info, "restored" once');
  t.notOk(JSON.stringify(lines).includes('hunter2'));

  const debug = capture('debug');
  const never = new ConnectionReporter(debug.logger, { role: 'control', url: 'redis://h' });
  never.failed(new Error('boom'), 100);
  t.match(debug.lines, [{ msg: 'connection failed, retrying', attempt: 1 }, { msg: 'connection error detail', err: { stack: /boom/ } }], 'never up: "failed"; the stack at debug'); // prettier-ignore

  const quiet = capture('info');
  const q = new ConnectionReporter(quiet.logger, { role: 'results', url: 'redis://h' }, true);
  q.failed(new Error('x'), 1);
  q.up();
  t.equal(quiet.lines.length, 0, 'a quiet reporter says it all at debug');
});

void t.test('pyShortRepr: Python repr, cut like Celery saferepr', async (t) => {
  t.equal(pyShortRepr(5), '5');
  t.equal(pyShortRepr('hi'), "'hi'");
  t.equal(pyShortRepr(null), 'None');
  t.equal(pyShortRepr({ a: [1, 'x', true, null, 1.5] }), "{'a': [1, 'x', True, None, 1.5]}");
  t.equal(pyShortRepr(new Date(0)), "'1970-01-01T00:00:00.000Z'", 'as the caller gets it (JSON)');
  const long = pyShortRepr('y'.repeat(5000), 1024);
  t.equal(long.length, 1027, 'maxlen characters and "..."');
  t.ok(long.startsWith("'yyy") && long.endsWith('...'));
  const big = Array.from({ length: 100_000 }, (_, i) => ({ i }));
  t.equal(pyShortRepr(big, 50), `${pyShortRepr(big.slice(0, 20)).slice(0, 50)}...`, 'a huge list: only its start');
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  t.ok(pyShortRepr(cyclic, 100).endsWith('...'), 'a cycle ends at the budget');
});

void t.test('taskLines: INFO lines (debug when off), failures at ERROR either way', async (t) => {
  const { logger, lines } = capture('info');
  const on = taskLines(logger, true);
  const ref = { task: 'add', taskId: 'id1' };
  on.received(ref);
  on.received(ref, Date.UTC(2030, 0, 1));
  on.succeeded(ref, 0.0031234567, 5);
  on.retried(ref, 2500, new TaskError('later', 'ConnectionError'), 1);
  on.failed(ref, 0.25, new TypeError("add() missing 1 required positional argument: 'b'"));
  on.revoked(ref, 'expired');
  t.match(lines, [
    { level: 30, msg: 'task received', ...ref },
    { level: 30, msg: 'task received', ...ref, eta: '2030-01-01T00:00:00.000Z' },
    { level: 30, msg: 'task succeeded', ...ref, runtime: 0.003123, result: '5' },
    { level: 30, msg: 'task retry', ...ref, countdown: 2.5, excType: 'ConnectionError', excMessage: 'later', retries: 1 }, // prettier-ignore
    { level: 50, msg: 'task failed', ...ref, runtime: 0.25, excType: 'TypeError' },
    { level: 30, msg: 'task revoked', ...ref, reason: 'expired' },
  ]);
  t.equal(lines[0]?.eta, undefined, 'no ETA, no field');

  const off = capture('info');
  const quiet = taskLines(off.logger, false);
  quiet.received(ref);
  quiet.succeeded(ref, 1, { huge: 'x'.repeat(1e6) });
  quiet.failed(ref, 1, new Error('boom'));
  t.match(off.lines, [{ level: 50, msg: 'task failed', excType: 'Exception', excMessage: 'boom' }], 'off: only the failure'); // prettier-ignore
  const dbg = capture('debug');
  taskLines(dbg.logger, false).succeeded(ref, 1, 5);
  t.match(dbg.lines, [{ level: 20, msg: 'task succeeded' }], 'off: at debug');
});

void t.test("the Celery consumer's task events as task lines", async (t) => {
  const { logger, lines } = capture('info');
  const now = 1_000_000;
  const sink = taskLineSink(taskLines(logger, true), () => now);
  const held = (over: Record<string, unknown> = {}): Held =>
    ({ msg: { id: 'x1', task: 'add', etaMs: null, expiresMs: null, retries: 0, ...over } }) as unknown as Held;
  const ex = (over: Partial<Execution>): Execution => ({ started: now - 1500, ...over }) as Execution;
  sink('received', held({ etaMs: now + 60_000 }));
  sink('received', held({ etaMs: now - 5 }));
  sink('started', held(), ex({}));
  sink('succeeded', held(), ex({ value: [1, 2] }));
  sink('retried', held({ retries: 2 }), ex({ error: new Error('again'), retryInMs: 4000 }));
  sink('failed', held(), ex({ error: new TaskError('bad', 'ValueError') }));
  sink('failed', held(), ex({ error: Object.assign(new Error('terminated'), { name: 'TaskRevokedError' }) }));
  sink('revoked', held({ expiresMs: now - 1 }));
  sink('revoked', held());
  t.match(
    lines.map(({ msg, eta, runtime, result, countdown, retries, excType, reason }) => ({
      msg,
      eta,
      runtime,
      result,
      countdown,
      retries,
      excType,
      reason,
    })),
    [
      // prettier-ignore
      { msg: 'task received', eta: new Date(now + 60_000).toISOString() },
      { msg: 'task received', eta: undefined },
      { msg: 'task succeeded', runtime: 1.5, result: '[1, 2]' },
      { msg: 'task retry', countdown: 4, retries: 3, excType: 'Exception' },
      { msg: 'task failed', runtime: 1.5, excType: 'ValueError' },
      { msg: 'task revoked', reason: 'terminated' },
      { msg: 'task revoked', reason: 'expired' },
      { msg: 'task revoked', reason: 'revoked' },
    ],
  );
  t.equal(lines.length, 8, '"started" writes no line');

  // celery.chord_unlock polls by retrying every second: its received and retry lines are routine.
  const routine = capture('debug');
  const polls = taskLineSink(taskLines(logger, true), () => now, taskLines(routine.logger, false));
  const unlock = held({ task: 'celery.chord_unlock', etaMs: now + 1000 });
  polls('received', unlock);
  polls('retried', unlock, ex({ error: new Error('not ready'), retryInMs: 1000 }));
  polls('succeeded', unlock, ex({ value: null }));
  t.match(
    routine.lines,
    [
      { level: 20, msg: 'task received' },
      { level: 20, msg: 'task retry' },
    ],
    'its polls at debug',
  );
  t.match(lines.at(-1), { level: 30, msg: 'task succeeded', task: 'celery.chord_unlock' }, 'its success at INFO');
});

void t.test('pretty mode: task and connection lines as sentences, one line per record', async (t) => {
  const out = await prettyOf((log) => {
    const c = log.child({ child: 0 });
    const lines = taskLines(c, true);
    const ref = { task: 'add_numbers', taskId: 'a1' };
    lines.received(ref);
    lines.received(ref, Date.UTC(2030, 0, 1));
    lines.succeeded(ref, 0.003, 5);
    lines.retried(ref, 5000, new TaskError('boom\nline 2', 'ValueError'));
    lines.failed(ref, 0.1, new TaskError('bad', 'ValueError'));
    lines.revoked(ref, 'revoked');
    lines.revoked(ref, 'expired');
    const r = new ConnectionReporter(c, { role: 'broker', url: 'redis://:pw@h:6379/0' });
    r.up();
    r.failed(null, 100);
    r.failed(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 2050);
    r.up();
    new ConnectionReporter(log, { role: 'temporal', url: '127.0.0.1:7233' }).failed(new Error('x'), 250);
    log.warn({ child: 1, gen: 3, reason: 'cannot reach the Celery broker at redis://h (ECONNREFUSED)', code: 'ECONNREFUSED', attempt: 2, retryInMs: 233 }, 'child could not reach its backend, retrying'); // prettier-ignore
    log.warn({ err: 'Connection is closed.', child: 2 }, 'celery event not published');
    log.info({ from: 'a' }, 'anything else');
  });
  t.same(out, [
    'INFO (' + process.pid + '): Task add_numbers[a1] received {"child":0}',
    'INFO (' + process.pid + '): Task add_numbers[a1] received (eta 2030-01-01T00:00:00.000Z) {"child":0}',
    'INFO (' + process.pid + '): Task add_numbers[a1] succeeded in 0.003s: 5 {"child":0}',
    'INFO (' + process.pid + '): Task add_numbers[a1] retry: Retry in 5s: ValueError: boom\\nline 2 {"child":0}',
    'ERROR (' + process.pid + '): Task add_numbers[a1] raised unexpected: ValueError: bad {"child":0}',
    'INFO (' + process.pid + '): Discarding revoked task: add_numbers[a1] {"child":0}',
    'INFO (' + process.pid + '): Discarding revoked task: add_numbers[a1] (expired) {"child":0}',
    'WARN (' + process.pid + '): connection to the broker at redis://:***@h:6379/0 lost (closed); reconnecting in 0.1s {"child":0}',
    'WARN (' + process.pid + '): cannot connect to the broker at redis://:***@h:6379/0 (ECONNREFUSED); retrying in 2.05s (attempt 2) {"child":0}',
    'INFO (' + process.pid + '): connection to the broker at redis://:***@h:6379/0 restored {"child":0}',
    'WARN (' + process.pid + '): cannot connect to the Temporal server at 127.0.0.1:7233 (x); retrying in 0.25s',
    'WARN (' + process.pid + '): child 1: cannot reach the Celery broker at redis://h (ECONNREFUSED); retrying in 0.23s (attempt 2) {"gen":3}',
    'WARN (' + process.pid + '): celery event not published: Connection is closed. {"child":2}',
    'INFO (' + process.pid + '): anything else {"from":"a"}',
  ]); // prettier-ignore
});

void t.test('unredacted(): the same stream, level and fields, without the (costly) redaction pass', async (t) => {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  const parent = pino({ level: 'info', base: { pid: 1 }, redact: REDACT_OPTIONS }, stream).child({ child: 3 });
  const plain = unredacted(parent);
  plain.info({ task: 'a' }, 'one');
  parent.info({ token: 's3cret' }, 'two');
  plain.info({ task: 'b' }, 'three');
  plain.debug('below the level');
  await new Promise((r) => setImmediate(r));
  t.match(lines, [
    { pid: 1, child: 3, task: 'a', msg: 'one' },
    { pid: 1, child: 3, token: '[REDACTED]', msg: 'two' },
    { pid: 1, child: 3, task: 'b', msg: 'three' },
  ], 'in order, on the one stream'); // prettier-ignore
  t.equal(lines.length, 3, "the level is the parent's");
});

void t.test('the database result store says its connection trouble in the same shape', async (t) => {
  const { logger, lines } = capture('info');
  let failing = 2;
  const pool = {
    query: async () => {
      if (failing-- > 0)
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      return { rows: [] };
    },
  };
  const store = new DatabaseResultStore(pool as never, {
    statements: statements(DEFAULT_LAYOUT),
    extended: false,
    format: 'json',
    columns: { children: true, stamps: true },
    expiresS: 60,
    pollMs: 20,
    now: Date.now,
    logger,
    where: 'postgresql://u:***@db/celery',
  });
  await store.store('id-1', { status: 'SUCCESS', result: 1 });
  const at = { role: 'results', url: 'postgresql://u:***@db/celery', code: 'ECONNREFUSED' };
  t.match(lines, [
    { level: 40, msg: 'connection lost, reconnecting', ...at, attempt: 1, retryInMs: 100 },
    { level: 40, msg: 'connection failed, retrying', ...at, attempt: 2, retryInMs: 400 },
    { level: 30, msg: 'connection restored', role: 'results', attempts: 2 },
  ]);
  t.equal(lines.length, 3, 'one line per attempt, "restored" once');
  store.connectionLost(new Error('terminating connection due to administrator command'));
  store.connectionLost(new Error('terminating connection due to administrator command'));
  t.equal(lines.length, 4, 'the pool losing idle connections: one line, not one per connection');
});
