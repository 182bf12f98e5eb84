// Nothing lost: kill -9 of a child mid-task, a task ignoring its hard time limit, a fuzz of malformed messages,
// and the broker restarting mid-run, against the real binary and a real redis-server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { buildMessage } from '../../src/backends/celery/transports/redis-envelope.js';
import { startRedis } from '../helpers/redis.js';
import { FIXTURE_TASKS, startWorker } from './celery-harness.js';

type Meta = { status: string; result: unknown };

async function waitMeta(
  r: Redis,
  id: string,
  timeoutMs: number,
  states = ['SUCCESS', 'FAILURE', 'REVOKED'],
): Promise<Meta> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const raw = await r.get(`celery-task-meta-${id}`);
    if (raw) {
      const m = JSON.parse(raw) as Meta;
      if (states.includes(m.status)) return m;
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`no result for ${id} within ${timeoutMs} ms`);
}

async function send(r: Redis, task: string, args: unknown[] = []): Promise<string> {
  const m = buildMessage({ task, args });
  await r.lpush(m.key, m.raw);
  return m.id;
}

void t.test('kill -9, hard time limit, fuzz', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url);
  t.teardown(() => void r.disconnect());
  const w = startWorker(redis.url, ['-c', '2', '--tasks', FIXTURE_TASKS], { CELERY_MAX_MESSAGE_SIZE: '1000000' });
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 20_000, 'pool running');

  await t.test('a child SIGKILLed mid-task: the task runs again and completes within seconds', async (t) => {
    const id = await send(r, 'tbw_test.sleep', [1.5]);
    // Find the child holding it: its held set is named tbw.held.<host>.<slot>.<pid>.
    let pid = 0;
    const deadline = Date.now() + 10_000;
    while (pid === 0 && Date.now() < deadline) {
      for (const key of await r.keys('tbw.held.*')) {
        for (const tag of await r.smembers(key)) {
          const held = await r.hget('unacked', tag);
          if (held?.includes(id)) pid = Number(key.split('.').pop());
        }
      }
      if (pid === 0) await new Promise((res) => setTimeout(res, 20));
    }
    t.ok(pid > 0, `message held by child pid ${pid}`);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const meta = await waitMeta(r, id, 15_000);
    const took = Date.now() - killedAt;
    t.equal(meta.status, 'SUCCESS');
    t.not((meta.result as { pid: number }).pid, pid, 'ran again in another child');
    t.ok(took < 8000, `completed ${took} ms after the kill (visibility timeout not awaited)`);
    t.equal(await r.hlen('unacked'), 0, 'nothing left held');
  });

  await t.test(
    'a task ignoring its hard time limit fails with TimeLimitExceeded and its child is replaced',
    async (t) => {
      const exitsBefore = w.lines.filter((l) => String(l.msg).startsWith('child exited')).length;
      const id = await send(r, 'tbw_test.stubborn');
      const meta = await waitMeta(r, id, 15_000);
      t.equal(meta.status, 'FAILURE');
      t.equal((meta.result as { exc_type: string }).exc_type, 'TimeLimitExceeded');
      await w.waitFor((l) => l.msg === 'child exited unexpectedly' && l.code === 70, 10_000, 'child exit 70');
      t.ok(w.lines.filter((l) => String(l.msg).startsWith('child exited')).length > exitsBefore);
      const after = await send(r, 'add_numbers', [1, 2]);
      t.same((await waitMeta(r, after, 15_000)).result, 3, 'pool still works');
    },
  );

  await t.test('fuzz: malformed messages are dead-lettered, valid work still done, no child dies', async (t) => {
    const exitsBefore = w.lines.filter((l) => String(l.msg).startsWith('child exited')).length;
    await r.del('tbw.dead_letter');
    const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');
    const good = JSON.parse(buildMessage({ task: 'add_numbers', args: [1, 1] }).raw) as Record<
      string,
      Record<string, unknown>
    >;
    const variant = (f: (e: Record<string, Record<string, unknown>>) => void): string => {
      const e = structuredClone(good);
      e.headers!.id = `fuzz-${Math.random()}`;
      e.properties!.delivery_tag = `tag-${Math.random()}`;
      f(e);
      return JSON.stringify(e);
    };
    const bad: string[] = [
      '',
      'garbage',
      '{"unterminated": ',
      '[]',
      '123',
      '{"properties": {"delivery_tag": 5}}',
      variant((e) => (e['content-type'] = 'application/x-python-serialize' as never)),
      variant((e) => (e.body = '%%%notbase64%%%' as never)),
      variant((e) => (e.body = b64('{nope') as never)),
      variant((e) => (e.body = b64([1, 2, 3]) as never)),
      variant((e) => (e.body = b64(['a', {}, {}]) as never)),
      variant((e) => (e.headers = {} as never)),
      variant((e) => (e.headers!.task = 'unknown.task')),
      variant((e) => (e.headers!.eta = 'not a date')),
      variant((e) => (e.body = b64([['x'.repeat(2_000_000)], {}, {}]) as never)),
    ];
    for (let i = 0; i < 40; i++) {
      const bytes = Buffer.alloc(1 + ((i * 37) % 200), i).toString('latin1');
      bad.push(i % 2 === 0 ? bytes : variant((e) => (e.headers!.retries = bytes as never)));
    }
    // Random-byte variants with a valid envelope still run (retries is just metadata): count what must fail.
    const mustFail = bad.length - 20;
    const ids: string[] = [];
    for (let i = 0; i < bad.length; i++) {
      await r.lpush('celery', bad[i]!);
      if (i % 2 === 0) ids.push(await send(r, 'add_numbers', [i, 1]));
    }
    for (const id of ids) t.equal((await waitMeta(r, id, 20_000)).status, 'SUCCESS');
    const deadline = Date.now() + 10_000;
    while ((await r.llen('tbw.dead_letter')) < mustFail && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 20));
    t.equal(await r.llen('tbw.dead_letter'), mustFail, 'every unrunnable message is in the dead-letter list');
    const entry = JSON.parse((await r.lindex('tbw.dead_letter', 0))!) as Record<string, unknown>;
    t.type(entry.reason, 'string');
    t.type(entry.message, 'string');
    t.equal(w.lines.filter((l) => String(l.msg).startsWith('child exited')).length, exitsBefore, 'no child exited');
    t.equal(await r.llen('celery'), 0, 'queue drained');
  });
});

void t.test('broker restarted mid-run: reconnects, one line per reconnect attempt, loses nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbw-redis-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir] });
  t.teardown(() => redis.stop());
  const r = new Redis(redis.url, { maxRetriesPerRequest: null });
  t.teardown(() => void r.disconnect());
  r.on('error', () => undefined);
  const w = startWorker(redis.url, ['-c', '2', '--tasks', FIXTURE_TASKS], { CELERY_VISIBILITY_TIMEOUT: '5' });
  t.teardown(async () => void (await w.stop('SIGKILL')));
  await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 20_000, 'pool running');
  const ids: string[] = [];
  for (let i = 0; i < 60; i++) ids.push(await send(r, 'tbw_test.sleep', [0.3]));
  await new Promise((res) => setTimeout(res, 150));
  await redis.kill();
  await w.waitFor((l) => l.msg === 'connection lost, reconnecting', 10_000, 'lost line');
  await redis.start();
  await w.waitFor((l) => l.msg === 'connection restored', 15_000, 'restored line');
  for (const id of ids) t.equal((await waitMeta(r, id, 30_000)).status, 'SUCCESS', `task ${id} done`);
  // Connections: each child's broker (results share it) and the control node's.
  const lost = w.lines.filter((l) => l.msg === 'connection lost, reconnecting').length;
  t.ok(lost <= 2 + 1, `at most one "lost" line per connection (${lost})`);
  t.equal(w.lines.filter((l) => String(l.msg).startsWith('child exited')).length, 0, 'no child exited');
});
