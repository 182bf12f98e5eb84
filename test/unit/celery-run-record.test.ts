// The children's run records (run-record.ts) on a real filesystem: a child writes what it runs to its file before
// the task may start (no IPC per start), the pool reads it when asked about a redelivery and when the child exits,
// a torn or foreign text is never taken for a list, a failed write falls back to IPC reports, and stale
// directories of killed pools are swept.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { WorkerConfig } from '../../src/config/types.js';
import type { PoolHandle } from '../../src/supervisor/handle.js';
import { runRecords } from '../../src/backends/celery/extension.js';
import { ChildLostRuns, DONE_FLUSH_MS } from '../../src/backends/celery/lost-ask.js';
import { TOPIC_RUNNING } from '../../src/backends/celery/lost-runs.js';
import {
  decodeRecord,
  dropRecord,
  encodeRecord,
  makeRecordDir,
  readRecord,
  removeRecordDir,
  RunRecordWriter,
} from '../../src/backends/celery/run-record.js';
import { answeringDesk } from '../helpers/lost-desk.js';

const scratch = (t: Test): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-record-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

void t.test('encode/decode: a whole version reads back; a torn or foreign one is null', async (t) => {
  const ids = ['0.0:a8f1', '1.2:b\u00e9'];
  t.same(decodeRecord(encodeRecord(ids)), ids);
  t.same(decodeRecord(encodeRecord([])), []);
  t.same(
    decodeRecord(`${encodeRecord(['x'])}            `),
    ['x'],
    'what an older, longer version left after it is ignored',
  );
  const longer = encodeRecord(['0.0:AAAA', '0.0:BBBB']);
  const shorter = encodeRecord(['0.0:CCCC']);
  // A reader that met the rewrite half done: the new version's start over the old one's end.
  for (let k = 1; k < shorter.length; k++) {
    t.equal(decodeRecord(shorter.slice(0, k) + longer.slice(k)), null, `torn at ${k}: not read as a list`);
  }
  const same = encodeRecord(['0.0:CCCC', '0.0:DDDD']);
  for (let k = 1; k < same.length; k++) {
    const torn = same.slice(0, k) + longer.slice(k);
    if (torn !== same && torn !== longer) t.equal(decodeRecord(torn), null, `same length, torn at ${k}`);
  }
  t.equal(decodeRecord(''), null);
  t.equal(decodeRecord('garbage\n[]\n'), null);
  t.equal(decodeRecord('2 0\n[]\n'), null, 'a wrong checksum');
});

void t.test('writer and reader: the file holds the latest list, rewritten in place', async (t) => {
  const dir = scratch(t);
  t.same(readRecord(dir, 4242), [], 'no file (no task started yet): nothing runs');
  const w = RunRecordWriter.open(dir, 4242);
  if (w === null) throw new Error('could not open a record');
  t.same(readRecord(dir, 4242), [], 'opened, empty');
  w.write(['0.0:first', '0.0:second', '0.0:third']);
  t.same(readRecord(dir, 4242), ['0.0:first', '0.0:second', '0.0:third']);
  w.write(['0.0:x']);
  t.same(readRecord(dir, 4242), ['0.0:x'], 'a shorter version over a longer one');
  t.equal(statSync(join(dir, '4242')).mode & 0o777, 0o600, 'readable by its user only');
  w.close();
  writeFileSync(join(dir, '7'), 'not a record');
  t.equal(readRecord(dir, 7), null, 'unreadable whole: null (the desk keeps what it knew)');
  dropRecord(dir, 4242);
  t.notOk(existsSync(join(dir, '4242')));
  t.equal(RunRecordWriter.open(join(dir, 'missing'), 1), null, 'no directory: null (the child reports over IPC)');
});

void t.test(
  'ChildLostRuns with a record: starts are written to it, not sent; ends are sent after it drops them',
  async (t) => {
    const dir = scratch(t);
    const sent: [string, unknown][] = [];
    const w = RunRecordWriter.open(dir, 100);
    const c = new ChildLostRuns((topic, data) => void sent.push([topic, data]), 30, w);
    const a = c.started('a');
    const b = c.started('b');
    t.same(readRecord(dir, 100), [], 'not before the turn ends (the starts of one turn share one write)');
    await Promise.all([a, b]);
    t.same(readRecord(dir, 100), ['a', 'b'], 'written before the tasks may run');
    t.same(sent, [], 'and nothing went down the pipe');
    c.finished('a');
    await c.started('c');
    t.same(readRecord(dir, 100), ['b', 'c'], 'the next start rewrites what runs now');
    await new Promise((r) => setTimeout(r, DONE_FLUSH_MS + 20));
    t.same(sent, [[TOPIC_RUNNING, { done: ['a'] }]], 'the end goes to the pool after the flush interval');
    c.finished('b');
    await new Promise((r) => setTimeout(r, DONE_FLUSH_MS + 20));
    t.same(readRecord(dir, 100), ['c'], 'the record dropped it before its end was sent');
    t.same(sent[1], [TOPIC_RUNNING, { done: ['b'] }]);
    c.release();
  },
);

void t.test('ChildLostRuns: a record that cannot be written falls back to IPC reports for good', async (t) => {
  const sent: [string, unknown][] = [];
  let closed = false;
  const broken = {
    write: () => {
      throw new Error('ENOSPC');
    },
    close: () => void (closed = true),
  } as unknown as RunRecordWriter;
  const c = new ChildLostRuns((topic, data) => void sent.push([topic, data]), 30, broken);
  await Promise.all([c.started('a'), c.started('b')]);
  t.ok(closed, 'the record is given up');
  t.same(sent, [[TOPIC_RUNNING, { start: ['a', 'b'] }]], 'what runs goes down the pipe');
  c.finished('a');
  await c.started('c');
  t.same(sent[1], [TOPIC_RUNNING, { start: ['c'], done: ['a'] }], 'every later start as before, ends piggybacked');
  c.release();
});

/** A desk reading the records in `dir` of the children `live` (gen → pid), answers as promises. */
const deskOn = (dir: string, live: Map<number, number>) =>
  answeringDesk(undefined, () => [...live].map(([gen, pid]) => [gen, readRecord(dir, pid)] as const));

void t.test('LostDesk with records: a redelivery is charged only for a death it was running in', async (t) => {
  const dir = scratch(t);
  const live = new Map([
    [1, 501],
    [2, 502],
  ]);
  const { d, ask } = deskOn(dir, live);
  t.teardown(() => d.close());
  const w1 = RunRecordWriter.open(dir, 501)!;
  w1.write(['P', 'V']);
  const p = ask(2, 1, 'P');
  const v = ask(2, 2, 'V');
  // Child 1 finished V (its record dropped it, then it sent the end), and died running P.
  w1.write(['P']);
  d.report(1, { done: ['V'] });
  t.equal(await v, null, 'finished in a live child: not charged');
  live.delete(1);
  d.exited(1, 'child 501 killed by SIGKILL', readRecord(dir, 501));
  t.equal(await p, 'child 501 killed by SIGKILL', 'read from the record of the child that died');
  t.equal(await ask(2, 3, 'Q'), null, 'in no record: not charged');
  // A child that died before the desk ever read its record: read at its exit.
  const w3 = RunRecordWriter.open(dir, 503)!;
  w3.write(['R']);
  d.exited(3, 'child 503 exited with code 1', readRecord(dir, 503));
  t.equal(await ask(2, 4, 'R'), 'child 503 exited with code 1');
  // A record that cannot be read at the exit: what the desk read last counts.
  live.set(4, 504);
  const w4 = RunRecordWriter.open(dir, 504)!;
  w4.write(['S']);
  const s = ask(2, 5, 'S');
  const early = await Promise.race([s, new Promise((r) => setTimeout(() => r('waiting'), 30))]);
  t.equal(early, 'waiting', 'running in a live child: the answer waits');
  live.delete(4);
  d.exited(4, 'child 504 killed by SIGKILL', null);
  t.equal(await s, 'child 504 killed by SIGKILL', 'answered at its exit');
  t.equal(await ask(2, 6, 'S'), 'child 504 killed by SIGKILL', 'and asked again');
  // A child that reports over IPC (its record failed): its file is not read any more.
  live.set(5, 505);
  RunRecordWriter.open(dir, 505)!.write(['stale']);
  d.report(5, { start: ['T'] });
  live.delete(5);
  d.exited(5, 'child 505 exited with code 1', readRecord(dir, 505));
  t.equal(await ask(2, 7, 'T'), 'child 505 exited with code 1', 'what it reported counts');
  t.equal(await ask(2, 8, 'stale'), null, 'not what its file held');
  for (const w of [w1, w3, w4]) w.close();
});

void t.test('makeRecordDir: a private directory per pool; killed pools\u2019 directories are swept', async (t) => {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  // A pid nobody has (above the kernel's pid_max): its pool is gone.
  const stale = join(base, 'tbw-runs-4194999-test');
  mkdirSync(stale, { recursive: true });
  writeFileSync(join(stale, '12'), encodeRecord(['x']));
  // A link planted under a dead pool's name, pointing at a directory of ours: neither is touched.
  const target = scratch(t);
  writeFileSync(join(target, 'keep'), 'x');
  const planted = join(base, 'tbw-runs-4194998-link');
  rmSync(planted, { force: true });
  symlinkSync(target, planted);
  t.teardown(() => rmSync(planted, { force: true }));
  const dir = makeRecordDir();
  if (dir === null) throw new Error('no record directory');
  t.teardown(() => removeRecordDir(dir));
  t.ok(dir.startsWith(join(base, `tbw-runs-${process.pid}-`)), dir);
  t.equal(statSync(dir).mode & 0o777, 0o700, 'private');
  t.notOk(existsSync(stale), 'the dead pool\u2019s directory is gone');
  t.ok(existsSync(join(target, 'keep')), 'a planted link is not followed');
  t.ok(readdirSync(base).includes(dir.slice(base.length + 1)), 'ours is there');
  removeRecordDir(dir);
  t.notOk(existsSync(dir));
});

void t.test('the pool extension reads the live records once per turn, and an exit drops them', async (t) => {
  let childConfig = { celery: { brokerUrl: 'amqp://127.0.0.1:5672//' } } as unknown as WorkerConfig;
  const children = [{ gen: 7, pid: 9001 }];
  const pool = {
    logger: { warn: () => undefined },
    snapshot: () => ({ children }),
    setChildConfig: (f: (c: WorkerConfig) => WorkerConfig) => void (childConfig = f(childConfig)),
  } as unknown as PoolHandle;
  const r = runRecords(childConfig);
  r.attach(pool);
  const dir = childConfig.celery.runsDir;
  if (dir === undefined) throw new Error('no runsDir handed to children');
  t.teardown(() => r.close());
  const w = RunRecordWriter.open(dir, 9001)!;
  w.write(['a']);
  t.same(r.live(pool), [[7, ['a']]]);
  w.write(['a', 'b']);
  t.same(r.live(pool), [[7, ['a']]], 'the same turn: read once');
  await new Promise((res) => setImmediate(res));
  t.same(r.live(pool), [[7, ['a', 'b']]], 'the next turn reads again');
  w.close();
  children.length = 0;
  t.same(r.exited(9001), ['a', 'b'], "the exited child's record");
  t.notOk(existsSync(join(dir, '9001')), 'then removed');
  t.same(r.live(pool), [], 'no longer live, in the same turn too');
  r.close();
  t.notOk(existsSync(dir), 'the directory goes with the pool');
  const redis = runRecords({ celery: { brokerUrl: 'redis://127.0.0.1:6379/0' } } as unknown as WorkerConfig);
  let set = false;
  redis.attach({ ...pool, setChildConfig: () => void (set = true) } as unknown as PoolHandle);
  t.notOk(set, 'Redis brokers need no records');
});
