// Real processes: a child printing garbage, JSON, stderr, a 3 MiB line and a partial last line — every byte of
// it reaches the supervisor's log, tagged with {child, pid, backend}; nothing is dropped.
import { PassThrough, Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { loggerSink, relayLines, type LineSink } from '../../src/supervisor/log-relay.js';
import { startPool } from './_helpers.js';

void t.test('garbage, huge and partial lines are wrapped, JSON lines are tagged', async (t) => {
  const p = startPool(t, 'garbage', { concurrency: 1 });
  await p.seen('ready');
  const done = await p.waitFor((l) => l.marker === 'garbage-done');
  t.match(done, { child: 0, backend: 'celery', msg: 'after huge', level: 30 });
  t.equal(done.pid, p.pids[0]);
  const wrapped = (text: string) => p.lines.find((l) => l.msg === 'child output' && l.line === text);
  t.match(wrapped('plain text line'), { child: 0, stream: 'stdout', level: 30 });
  t.match(wrapped('{not json}'), { stream: 'stdout' });
  t.match(wrapped('stderr says hello'), { stream: 'stderr', level: 40 });
  t.ok(
    p.lines.some((l) => l.child === 0 && l.backend === 'celery' && Object.keys(l).length === 3),
    '{} becomes the tags alone',
  );
  const parts = p.lines.filter((l) => l.msg === 'child output' && typeof l.line === 'string' && /^x+$/.test(l.line));
  t.equal(
    parts.reduce((n, l) => n + (l.line as string).length, 0),
    3 * 1024 * 1024 + 5,
    'the huge line arrives whole, in parts',
  );
  t.ok(
    parts.every((l) => (l.line as string).length <= 1 << 20),
    'each part at most 1 MiB',
  );
  t.ok(
    p.lines.every((l) => !('unparsable' in l)),
    'every relayed line is valid JSON',
  );
  p.h.signal('TERM');
  t.equal(await p.h.done, EXIT.OK);
  t.match(wrapped('partial line without newline'), { stream: 'stderr' }, 'the partial last line is flushed at exit');
});

void t.test('relayLines splits across chunk boundaries and keeps order', async (t) => {
  const out: string[] = [];
  const sink: LineSink = {
    raw: (s) => void out.push(...s.split('\n').filter(Boolean)),
    wrapped: (_lvl, f) => out.push(`W:${String(f.line)}`),
  };
  const input = new PassThrough();
  const done = relayLines(input, {
    fields: { child: 3, pid: 9, backend: 'b' },
    stream: 'stdout',
    sink,
    maxLineChars: 10,
  });
  input.write('{"a":');
  input.write('1}\nhel');
  input.write('lo\r\n\n{"é":"ü"}\n0123456789abc');
  input.end('\n');
  await done;
  t.same(out, [
    '{"child":3,"pid":9,"backend":"b","a":1}',
    'W:hello',
    '{"child":3,"pid":9,"backend":"b","é":"ü"}',
    'W:0123456789',
    'W:abc',
  ]);
});

void t.test('a full sink pauses the child stream until it drains; nothing is lost', async (t) => {
  const got: string[] = [];
  let resume: (() => void) | null = null;
  let full = true;
  const sink: LineSink = {
    raw: (s) => {
      got.push(...s.split('\n').filter(Boolean));
      return !full;
    },
    wrapped: () => t.fail('no line is wrapped'),
    onDrain: (r) => (resume = r),
  };
  const input = new PassThrough({ highWaterMark: 64 });
  const done = relayLines(input, { fields: { child: 0, pid: 1, backend: 'b' }, stream: 'stdout', sink });
  input.write('{"i":0}\n');
  await new Promise((r) => setImmediate(r));
  t.ok(input.isPaused(), 'reading stops while the sink is full');
  t.type(resume, 'function', 'the relay waits for the sink to drain');
  // The child keeps writing: its pipe (here the PassThrough's buffer) fills instead of the supervisor's memory.
  for (let i = 1; i < 50; i++) input.write(`{"i":${i}}\n`);
  await new Promise((r) => setImmediate(r));
  t.equal(got.length, 1, 'nothing more is read while paused');
  full = false;
  (resume as unknown as () => void)();
  input.end();
  await done;
  t.same(
    got.map((l) => (JSON.parse(l) as { i: number }).i),
    Array.from({ length: 50 }, (_, i) => i),
    'every line, in order',
  );
});

void t.test(
  'loggerSink: a full Node stream says so and resumes on drain; a plain {write} destination is never full',
  async (t) => {
    const plain: string[] = [];
    const plainSink = loggerSink(pino({ level: 'info' }, { write: (s: string) => void plain.push(s) }));
    t.equal(plainSink.raw('{"a":1}\n'), true, 'a destination whose write returns nothing never pauses the children');
    t.same(plain, ['{"a":1}\n']);

    let release: (() => void) | null = null;
    const slow = new Writable({
      highWaterMark: 16,
      write(_chunk, _enc, cb) {
        release = cb; // the reader lags until the test lets it go
      },
    });
    const sink = loggerSink(pino({ level: 'info' }, slow));
    t.equal(sink.raw('{"long line":"more than sixteen bytes"}\n'), false, 'full');
    let resumed = false;
    sink.onDrain?.(() => (resumed = true));
    sink.onDrain?.(() => undefined); // a second paused child shares the one listener
    t.equal(slow.listenerCount('drain'), 1, 'one drain listener for every paused child');
    (release as unknown as () => void)();
    await new Promise((r) => setImmediate(r));
    t.ok(resumed, 'resumed once the stream drained');
    t.equal(slow.listenerCount('drain'), 0, 'and the listener is gone');
  },
);
