// The pure parts of "no message can stop the pool": why a dead child's tasks are charged (and when not), the
// WorkerLostError wording, dead-letter entries cut to size, timers past setTimeout's range, and the headers a
// hostile or confused client can send (time limits <= 0, negative retries, a numeric id, the lost-worker count).
import t from 'tap';
import { lostMessage } from '../../src/backends/celery/endings.js';
import { lostReason } from '../../src/backends/celery/extension.js';
import { DEAD_LETTER_MESSAGE_BYTES } from '../../src/backends/celery/transports/redis-broker.js';
import {
  buildMessage,
  decodeEnvelope,
  parseRedisMessage,
} from '../../src/backends/celery/transports/redis-envelope.js';
import { deadLetterMessage } from '../../src/backends/celery/transports/redis.js';
import type { PoolEventMap } from '../../src/supervisor/api.js';
import { MAX_TIMER_MS, setLongTimeout } from '../../src/util/timers.js';

type Exit = PoolEventMap['childExited'];
const exit = (o: Partial<Exit>): Exit => ({
  id: 1,
  slot: 0,
  pid: 42,
  code: null,
  signal: null,
  reason: 'crash',
  upMs: 1000,
  hint: 'x',
  ...o,
});

void t.test('lostReason: what a dead child charges its running tasks with, and when it charges nothing', async (t) => {
  t.equal(lostReason(exit({ code: 1 })), 'child 42 exited with code 1');
  t.equal(lostReason(exit({ signal: 'SIGKILL' })), 'child 42 killed by SIGKILL');
  t.match(lostReason(exit({ signal: 'SIGABRT' })), /^heap limit: child 42 aborted/);
  t.match(lostReason(exit({ signal: 'SIGKILL', reason: 'heartbeat-timeout' })), /^heartbeat timeout/);
  t.equal(lostReason(exit({ code: 0 })), 'child 42 exited with code 0', 'a task calling process.exit(0)');
  t.equal(lostReason(exit({ code: 70 })), null, 'a hard time limit: the child already failed that task');
  for (const reason of ['max-tasks', 'max-memory', 'reload', 'scale-down', 'shutdown', 'stop-timeout'] as const)
    t.equal(lostReason(exit({ reason, code: 0, hint: null })), null, `${reason}: given back, not lost`);
});

void t.test('the WorkerLostError message reads like the Temporal and Hatchet ones', async (t) => {
  t.equal(
    lostMessage('poison', 'child 1 killed by SIGKILL', 3, 2),
    'worker lost while running poison (child 1 killed by SIGKILL), 3 times; the delivery limit is 2',
  );
  t.match(lostMessage('p', 'r', 1, 0), /, once; the delivery limit is 0$/);
});

void t.test('dead-letter entries keep headers and at most 64 KiB of the body', async (t) => {
  t.same(deadLetterMessage('small'), { message: 'small' });
  t.same(deadLetterMessage(null), { message: null });
  const small = JSON.parse(buildMessage({ task: 'x' }).raw) as Record<string, unknown>;
  const big = JSON.stringify({ ...small, body: 'eQ=='.repeat(DEAD_LETTER_MESSAGE_BYTES) });
  const cut = deadLetterMessage(big);
  t.equal(cut.message_bytes, Buffer.byteLength(big));
  const env = JSON.parse(cut.message as string) as Record<string, unknown>;
  t.equal((env.headers as Record<string, unknown>).task, 'x', 'headers kept');
  t.equal(env.body_truncated, true);
  t.equal((env.body as string).length, DEAD_LETTER_MESSAGE_BYTES);
  const text = 'z'.repeat(5 * DEAD_LETTER_MESSAGE_BYTES);
  t.equal(deadLetterMessage(text).message?.length, DEAD_LETTER_MESSAGE_BYTES, 'not JSON: the text is cut');
});

void t.test('setLongTimeout re-arms past the 2^31-1 ms setTimeout takes', async (t) => {
  const real = globalThis.setTimeout;
  const armed: number[] = [];
  const pending: (() => void)[] = [];
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    armed.push(ms);
    pending.push(fn);
    return 0 as unknown as NodeJS.Timeout;
  }) as typeof setTimeout;
  let fired = false;
  try {
    setLongTimeout(() => (fired = true), 2 * MAX_TIMER_MS + 5);
    for (let i = 0; i < 3; i++) pending.shift()?.();
  } finally {
    globalThis.setTimeout = real;
  }
  t.same(armed, [MAX_TIMER_MS, MAX_TIMER_MS, 5], 'three steps, none above the limit');
  t.ok(fired, 'fired after the last one');
});

void t.test(
  'headers from the wire: limits <= 0 are none, retries count from 0, a numeric id names the correlation id',
  async (t) => {
    const parse = (headers: Record<string, unknown>) => {
      const m = buildMessage({ task: 'add', args: [1, 2], id: 'cid-1' });
      const env = JSON.parse(m.raw) as { headers: Record<string, unknown> };
      Object.assign(env.headers, headers);
      return parseRedisMessage(JSON.stringify(env));
    };
    const limits = parse({ timelimit: [-5, 0] });
    t.match(limits, { ok: true, msg: { hardLimitS: null, softLimitS: null } });
    t.match(parse({ timelimit: [2_592_000, 2_592_000] }), { ok: true, msg: { hardLimitS: 2_592_000 } });
    t.match(parse({ retries: -1_000_000_000 }), { ok: true, msg: { retries: 0 } });
    t.match(parse({ retries: 'lots' }), { ok: true, msg: { retries: 0 } });
    t.match(parse({ retries: 2.7 }), { ok: true, msg: { retries: 2 } });
    t.match(parse({ id: 123 }), {
      ok: false,
      type: 'InvalidTaskError',
      id: 'cid-1',
      reason: /id header is not a string: 123/,
    });
  },
);

void t.test('the lost-worker count travels in the envelope headers', async (t) => {
  const m = JSON.parse(buildMessage({ task: 'add' }).raw) as { headers: Record<string, unknown> };
  const decode = (h: Record<string, unknown>) => {
    const d = decodeEnvelope(JSON.stringify({ ...m, headers: { ...m.headers, ...h } }));
    return d.ok ? d.message : null;
  };
  t.match(decode({ tbw_lost: 2, tbw_lost_reason: 'child 1 killed by SIGKILL' }), {
    lostWorkers: 2,
    lostReason: 'child 1 killed by SIGKILL',
  });
  t.match(decode({}), { lostWorkers: 0, lostReason: null });
  t.match(decode({ tbw_lost: -1 }), { lostWorkers: 0 }, 'nonsense counts as none');
  t.match(decode({ tbw_lost: '3' }), { lostWorkers: 0 });
});
