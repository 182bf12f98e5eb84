// Lost workers on brokers that count every return of a message (RabbitMQ), the pure parts: the pool's bounded
// memory of ids that died with a child, its verdict on a redelivered id (charged with the reason, still running in
// a child whose exit is not processed yet, unknown), the answers it gives (waiting for that exit, or for the finish
// report, bounded), the child's reports and questions, and the count a copy of a returned message carries.
import type { Message } from 'amqplib';
import t from 'tap';
import { ChildLostRuns, DONE_FLUSH_MS } from '../../src/backends/celery/lost-ask.js';
import {
  LostMemory,
  LostRuns,
  lostAnswer,
  lostQuestion,
  runKey,
  runningReport,
  TOPIC_LOST_ASK,
  TOPIC_RUNNING,
} from '../../src/backends/celery/lost-runs.js';
import { copyOptions, recount, returned, runKeyOf } from '../../src/backends/celery/transports/amqp-lost.js';
import { BROKER_LOST_REASON, inboundOf } from '../../src/backends/celery/transports/amqp-message.js';
import { answeringDesk } from '../helpers/lost-desk.js';

void t.test('LostMemory: bounded by count (oldest first) and by age', async (t) => {
  const m = new LostMemory(3, 1000);
  for (const id of ['a', 'b', 'c', 'd']) m.add(id, `r-${id}`, 0);
  t.equal(m.size, 3);
  t.equal(m.get('a', 10), null, 'the oldest went first');
  t.equal(m.get('d', 10), 'r-d');
  t.equal(m.get('d', 10), 'r-d', 'asked again, the same answer (a redelivered original is charged each time)');
  m.add('b', 'again', 500);
  m.add('e', 'r-e', 500);
  t.equal(m.get('b', 600), 'again', 'added again: it counts as new');
  t.equal(m.get('c', 600), null, 'c was the oldest then');
  t.equal(m.get('d', 1000), null, 'forgotten once its time is up');
  t.equal(m.get('b', 1499), 'again');
  t.equal(m.get('b', 1500), null);
});

void t.test('LostRuns: what a child ran when it died is charged; a planned exit or a finish is not', async (t) => {
  const r = new LostRuns();
  const a = runKey('A', 0, 0);
  const b = runKey('B', 1, 2);
  r.report(1, { start: [a, b], done: [] });
  r.report(2, { start: [runKey('C', 0, 0)], done: [] });
  t.same(r.verdict(a, 0), { kind: 'running', gen: 1 }, 'still running in child 1: wait for it');
  t.same(r.verdict(runKey('A', 1, 1), 0), { kind: 'unknown' }, 'the charged copy (one more lost) is another message');
  t.same(r.verdict(runKey('A', 0, 1), 0), { kind: 'unknown' }, 'so is any other copy');
  r.report(1, { start: [], done: [b] });
  t.same(r.exited(1, 'child 7 exited with code 1', 0), [a]);
  t.same(r.verdict(a, 0), { kind: 'charged', reason: 'child 7 exited with code 1' });
  t.same(r.verdict(b, 0), { kind: 'unknown' }, 'finished before the death: not charged');
  t.same(r.exited(2, null, 0), [runKey('C', 0, 0)], 'a planned exit');
  t.same(r.verdict(runKey('C', 0, 0), 0), { kind: 'unknown' }, 'not charged');
  t.notOk(r.isRunning(2, runKey('C', 0, 0)));
  r.copied(a, 0);
  t.same(r.verdict(a, 0), { kind: 'copied' }, 'its copy is out: the original came back only because its ack did not');
});

void t.test('the messages are checked: another process wrote them', async (t) => {
  t.same(runningReport({ start: ['x', 3, ''], done: 'y' }), { start: ['x'], done: [] });
  t.equal(runningReport(null), null);
  t.same(lostQuestion({ req: 1, id: 'k' }), { req: 1, id: 'k' });
  t.same(lostQuestion({ copied: 'k' }), { copied: 'k' });
  t.equal(lostQuestion({ req: '1', id: 'k' }), null);
  t.equal(lostQuestion({ req: 1, id: '' }), null);
  t.same(lostAnswer({ req: 2, reason: null }), { req: 2, reason: null, copied: false });
  t.same(lostAnswer({ req: 2, reason: 'why', copied: true }), { req: 2, reason: 'why', copied: true });
  t.equal(lostAnswer({ req: 2 }), undefined);
});

void t.test('LostDesk: a redelivery that races the exit of the child it died in waits for that exit', async (t) => {
  const { d, ask } = answeringDesk();
  t.teardown(() => d.close());
  d.report(1, { start: ['P', 'V'] });
  const p = ask(2, 1, 'P');
  const v = ask(2, 2, 'V');
  d.report(1, { done: ['V'] });
  t.equal(await v, null, 'it finished in a live child: not charged');
  d.exited(1, 'child 9 killed by SIGKILL');
  t.equal(await p, 'child 9 killed by SIGKILL', 'charged with the reason its child died');
  t.equal(await ask(3, 1, 'P'), 'child 9 killed by SIGKILL', 'the original, given back again: charged again');
  d.ask(3, { copied: 'P' });
  t.equal(await ask(3, 5, 'P'), 'copied', 'once its copy is out, a duplicate');
  t.equal(await ask(3, 2, 'H'), null, 'only held by the dead child (never reported): not charged');
  d.report(4, { start: ['S'] });
  const s = ask(2, 3, 'S');
  d.report(4, { start: [] });
  d.exited(4, null);
  t.equal(await s, null, 'a planned exit charges nothing');
});

void t.test('LostDesk: an unknown id waits a moment (a start report may still be in a pipe)', async (t) => {
  const { d, ask } = answeringDesk({ settleMs: 20, waitMs: 5000 });
  t.teardown(() => d.close());
  const p = ask(2, 1, 'P');
  d.report(1, { start: ['P'] }); // read after the question
  d.exited(1, 'child 3 exited with code 1');
  t.equal(await p, 'child 3 exited with code 1');
});

void t.test('LostDesk: still running in a live child after the bound: not charged', async (t) => {
  const { d, ask } = answeringDesk({ settleMs: 1, waitMs: 20 });
  t.teardown(() => d.close());
  d.report(1, { start: ['P'] });
  t.equal(await ask(2, 1, 'P'), null, 'its child lost a connection, not its life');
});

void t.test('ChildLostRuns: a start report before each task, ends piggybacked or sent at the turn', async (t) => {
  const sent: [string, unknown][] = [];
  const c = new ChildLostRuns((topic, data) => void sent.push([topic, data]), 30);
  const a = c.started('a');
  t.same(sent, [], 'not yet: the starts of this turn go together');
  await a;
  t.same(sent, [[TOPIC_RUNNING, { start: ['a'] }]], 'written before the task may run');
  c.finished('a');
  const b1 = c.started('b');
  const b2 = c.started('c');
  t.equal(b1, b2, 'one report for the turn');
  await b2;
  t.same(sent, [
    [TOPIC_RUNNING, { start: ['a'] }],
    [TOPIC_RUNNING, { start: ['b', 'c'], done: ['a'] }],
  ]);
  c.finished('b');
  c.finished('c');
  await new Promise((r) => setImmediate(r));
  t.equal(sent.length, 2, 'not at the end of the turn: they wait for a start or the flush interval');
  await new Promise((r) => setTimeout(r, DONE_FLUSH_MS + 20));
  t.same(sent[2], [TOPIC_RUNNING, { done: ['b', 'c'] }], 'idle: the ends go out after the flush interval');
  const asked = c.ask('k');
  const q = sent[3]!;
  t.equal(q[0], TOPIC_LOST_ASK);
  c.answered({ req: (q[1] as { req: number }).req, reason: 'died' });
  t.same(await asked, { reason: 'died', copied: false });
  c.copied('k');
  t.same(sent[4], [TOPIC_LOST_ASK, { copied: 'k' }]);
  t.equal(await c.ask('k2'), undefined, 'no answer in time: undefined (the broker count stands)');
  const late = c.ask('k3');
  c.release();
  t.equal(await late, undefined, 'stopping');
});

/** An AMQP message as amqplib gives it, only the fields these functions read. */
const msg = (redelivered: boolean, headers: Record<string, unknown>): Message =>
  ({ fields: { redelivered }, properties: { headers }, content: Buffer.alloc(0) }) as unknown as Message;

void t.test('recount: the copy of a returned message counts only a death it was running in', async (t) => {
  t.notOk(returned(msg(false, {})), 'a first delivery');
  t.ok(returned(msg(true, {})), 'classic: the flag');
  t.ok(returned(msg(false, { 'x-delivery-count': 2 })), 'quorum: the count (even without the flag)');
  t.notOk(returned(msg(false, { 'x-delivery-count': 0 })));
  const quorum = msg(true, { 'x-delivery-count': 3, tbw_lost: 1 });
  const died = { reason: 'child 1 exited with code 1', copied: false };
  t.same(recount(quorum, died), { lost: 2, reason: 'child 1 exited with code 1' });
  t.same(recount(quorum, { reason: null, copied: false }), { lost: 1, reason: null }, 'held, not run: uncounted');
  t.equal(recount(quorum, { reason: null, copied: true }), 'duplicate');
  t.same(recount(quorum, undefined), { lost: 4, reason: BROKER_LOST_REASON }, 'no answer: as the broker counted');
  const classic = msg(true, { tbw_lost: 1 });
  t.same(recount(classic, undefined), { lost: 2, reason: BROKER_LOST_REASON }, 'classic, no answer: one more');
  t.same(recount(classic, { reason: null, copied: false }), { lost: 1, reason: null });
});

void t.test('runKeyOf and copies: each copy is another message to the pool', async (t) => {
  const m = msg(false, { id: 'T', tbw_lost: 2 });
  t.equal(runKeyOf(m), runKey('T', 2, 0));
  const copy = msg(false, copyOptions(m, 3, 'why').headers as Record<string, unknown>);
  t.equal(runKeyOf(copy), runKey('T', 3, 1));
  const again = msg(false, copyOptions(copy, 3, null).headers as Record<string, unknown>);
  t.equal(runKeyOf(again), runKey('T', 3, 2), 'an uncharged copy too');
  t.equal(runKeyOf(msg(false, {})), null, 'no id: nothing to report');
  t.notOk(copy.properties.headers?.tbw_redelivered, 'a copy of a first delivery (set aside) is not redelivered');
  const back = copyOptions(msg(false, { id: 'T', 'x-delivery-count': 1 }), 0, null).headers ?? {};
  t.equal(back.tbw_redelivered, true, 'a copy of a returned one, even uncharged, is (it may have run)');
  t.notOk('x-delivery-count' in back, "the broker's count is never copied");
  t.ok(inboundOf(msg(false, back), '1.1').redelivered, 'and the task sees ctx.redelivered');
});
