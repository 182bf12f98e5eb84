// The verdict on one arriving delivery (admission.ts), in Celery's order: unreadable and unknown tasks are
// rejected, revoked and expired ones end REVOKED, a message lost in too many workers ends WorkerLostError, an ETA
// in the future is held, anything else is due. Messages as Python's send_task shapes them (protocol 2, JSON).
import t from 'tap';
import { admit, type AdmissionRules } from '../../src/backends/celery/admission.js';
import type { Delivery, InboundMessage } from '../../src/backends/celery/transport.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

function message(headers: Record<string, unknown>, extra: Partial<InboundMessage> = {}): Delivery {
  const body = Buffer.from(JSON.stringify([[2, 3], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]));
  const message: InboundMessage = {
    headers: { lang: 'py', task: 'add', id: 'id-1', retries: 0, timelimit: [null, null], ...headers },
    properties: { correlation_id: headers['id'] ?? 'id-1', delivery_mode: 2, priority: 0 },
    body,
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    deliveryInfo: { exchange: '', routingKey: 'celery', deliveryTag: 'tag-1' },
    redelivered: false,
    size: body.length,
    ...extra,
  };
  return { kind: 'message', tag: 'tag-1', queue: 'celery', message, revoked: false };
}

const rules = (over: Partial<AdmissionRules> = {}): AdmissionRules => ({
  maxMessageBytes: 1 << 20,
  deliveryLimit: 2,
  runnable: (task) => task === 'add',
  revoked: () => false,
  ...over,
});

void t.test('a plain message is due, held with its lost-worker count', async (t) => {
  const v = admit(message({}), rules(), NOW);
  t.equal(v.kind, 'due');
  if (v.kind !== 'due') return;
  t.equal(v.held.msg.task, 'add');
  t.same(v.held.msg.args, [2, 3]);
  t.equal(v.held.lost, 0);
  t.equal(v.held.released, false);
});

void t.test('unreadable and unknown messages are rejected, naming what Celery names', async (t) => {
  const dead: Delivery = { kind: 'dead-lettered', queue: 'celery', reason: 'no delivery tag' };
  t.equal(admit(dead, rules(), NOW).kind, 'dead-lettered');

  const undecodable: Delivery = {
    kind: 'undecodable',
    tag: 't',
    queue: 'celery',
    reason: 'not JSON',
    id: 'x',
    task: null,
    raw: '{',
  };
  const u = admit(undecodable, rules(), NOW);
  t.equal(u.kind, 'reject');
  if (u.kind === 'reject') t.same(u.why, { type: 'DecodeError', ...undecodable });

  const unknown = admit(message({ task: 'nope' }), rules(), NOW);
  t.equal(unknown.kind, 'reject');
  if (unknown.kind === 'reject') {
    t.equal(unknown.why.type, 'NotRegistered');
    t.equal(unknown.why.reason, "Task of kind 'nope' never registered, please make sure it's imported.");
    t.equal(unknown.why.id, 'id-1');
  }

  const big = admit(message({}), rules({ maxMessageBytes: 10 }), NOW);
  t.equal(big.kind, 'reject', 'over the size cap');
});

void t.test('revoked (by the transport or remote control) and expired messages end REVOKED', async (t) => {
  const byTransport = { ...message({}), revoked: true } as Delivery;
  const a = admit(byTransport, rules(), NOW);
  t.same(a.kind === 'revoke' && a.why, 'revoked');
  const b = admit(message({}), rules({ revoked: (id, now) => id === 'id-1' && now === NOW }), NOW);
  t.same(b.kind === 'revoke' && b.why, 'revoked');
  const c = admit(message({ expires: iso(NOW - 1000) }), rules(), NOW);
  t.same(c.kind === 'revoke' && c.why, 'expired');
  const d = admit(message({ expires: iso(NOW + 60_000) }), rules(), NOW);
  t.equal(d.kind, 'due', 'not yet expired');
  const e = admit(message({ expires: iso(NOW - 1000), eta: iso(NOW + 5000) }), rules(), NOW);
  t.equal(e.kind, 'revoke', 'expiry checked before the ETA');
});

void t.test('lost workers: past the delivery limit it ends WorkerLostError, at it it still runs', async (t) => {
  const past = admit(message({}, { lostWorkers: 3, lostReason: 'killed by SIGKILL' }), rules(), NOW);
  t.equal(past.kind, 'lost-too-often');
  if (past.kind === 'lost-too-often') t.equal(past.reason, 'killed by SIGKILL');
  const at = admit(message({}, { lostWorkers: 2 }), rules(), NOW);
  t.equal(at.kind, 'due');
  if (at.kind === 'due') t.equal(at.held.lost, 2, 'a rerun: runs alone');
  const zero = admit(message({}, { lostWorkers: 1 }), rules({ deliveryLimit: 0 }), NOW);
  t.equal(zero.kind, 'lost-too-often', '--delivery-limit 0: never rerun');
});

void t.test('an ETA in the future is held for the time left; a past one is due', async (t) => {
  const v = admit(message({ eta: iso(NOW + 5000) }), rules(), NOW);
  t.equal(v.kind, 'eta');
  if (v.kind === 'eta') t.equal(v.delayMs, 5000);
  t.equal(admit(message({ eta: iso(NOW - 5000) }), rules(), NOW).kind, 'due');
});
