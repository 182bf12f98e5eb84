// Celery remote control and events against the real binary, on Redis and on RabbitMQ: the Python `celery` CLI and
// library (venv) see our pool as one node, resize it, revoke and terminate tasks, watch a task's events, and shut
// it down warmly.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort } from '../helpers/redis.js';
import { PYTHON, startBrokers, startWorker, TRANSPORTS, type PyCheck } from './celery-harness.js';

const CELERY = join(PYTHON, '..', 'celery');

const APP = `import os
from celery import Celery
app = Celery('ctlapp', broker=os.environ['BROKER'], backend=os.environ['BACKEND'])
`;

// Library checks: events of one task, inspect active, revoke (before it is consumed) and revoke with terminate.
const CHECKS = `import json, os, sys, threading, time, uuid
from celery.exceptions import TaskRevokedError
from ctlapp import app
NODE = os.environ['NODE']

def report(name, fn):
    t0 = time.time()
    try:
        out = {"check": name, "ok": True, "value": fn()}
    except Exception as e:
        out = {"check": name, "ok": False, "error": type(e).__name__, "message": str(e)}
    out["seconds"] = round(time.time() - t0, 3)
    print(json.dumps(out, default=str), flush=True)

def events():
    seen, ready = [], threading.Event()
    def run():
        with app.connection() as conn:
            recv = app.events.Receiver(conn, handlers={'*': seen.append})
            it = recv.itercapture(limit=None, timeout=10, wakeup=False)
            next(it)  # consumer declared: subscribed
            ready.set()
            for _ in it:
                pass
    threading.Thread(target=run, daemon=True).start()
    ready.wait(5)
    time.sleep(0.3)  # PSUBSCRIBE reply precedes the first message; give the subscription a moment
    r = app.send_task('add_numbers', args=[2, 3])
    assert r.get(timeout=10) == 5
    deadline = time.time() + 5
    while time.time() < deadline:
        mine = [e['type'] for e in seen if e.get('uuid') == r.id]
        if 'task-succeeded' in mine and any(e['type'] == 'worker-heartbeat' for e in seen):
            break
        time.sleep(0.05)
    ok = [e for e in seen if e.get('uuid') == r.id and e['type'] == 'task-succeeded']
    return {"types": [e['type'] for e in seen if e.get('uuid') == r.id], "hostnames": sorted({e['hostname'] for e in seen}),
            "result": ok[0]['result'] if ok else None, "heartbeat": any(e['type'] == 'worker-heartbeat' for e in seen)}

def active_and_terminate():
    r = app.send_task('simulate_work', args=[30])
    insp = app.control.inspect(destination=[NODE], timeout=2)
    deadline, ids = time.time() + 10, []
    while time.time() < deadline:
        ids = [t['id'] for t in ((insp.active() or {}).get(NODE) or [])]
        if r.id in ids:
            break
        time.sleep(0.1)
    replies = app.control.revoke(r.id, terminate=True, reply=True, destination=[NODE], timeout=2)
    try:
        r.get(timeout=10)
        raised = None
    except TaskRevokedError as e:
        raised = type(e).__name__
    return {"listed": r.id in ids, "reply": replies, "raised": raised, "state": r.state}

def revoke_queued():
    tid = str(uuid.uuid4())
    replies = app.control.revoke(tid, reply=True, destination=[NODE], timeout=2)
    r = app.send_task('add_numbers', args=[1, 1], task_id=tid)
    try:
        r.get(timeout=10)
        raised = None
    except TaskRevokedError as e:
        raised = type(e).__name__
    return {"reply": replies, "raised": raised, "state": r.state}

report("events", events)
report("active_terminate", active_and_terminate)
report("revoke_queued", revoke_queued)
`;

async function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  timeoutMs = 30_000,
): Promise<{ code: number | null; out: string; err: string }> {
  const p = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env, PYTHONPATH: cwd },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(p, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, out, err };
}

for (const kind of TRANSPORTS)
  void t.test(`celery inspect / control / events see our pool as one Celery node (${kind})`, async (t) => {
    const b = await startBrokers(kind);
    t.teardown(() => b.stop());
    const dir = mkdtempSync(join(tmpdir(), 'tbw-ctl-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'ctlapp.py'), APP);
    writeFileSync(join(dir, 'checks.py'), CHECKS);
    const node = `celery@ctl-${process.pid}`;
    // Results as the platform has them on each broker: Redis, or rpc:// on RabbitMQ.
    const backend = kind === 'amqp' ? 'rpc://' : b.redis.url;
    const w = startWorker(b.broker, ['-c', '2', '-E', '-n', node], { CELERY_RESULT_BACKEND: backend });
    t.teardown(async () => void (await w.stop('SIGKILL')));
    await w.waitFor((l) => l.msg === 'pool state changed' && l.to === 'running', 30_000, 'pool running');
    await w.waitFor((l) => l.msg === 'celery control node ready', 20_000, 'control node');
    const env = { BROKER: b.broker, BACKEND: backend, NODE: node };
    const celery = async (...args: string[]): Promise<Record<string, unknown>> => {
      const r = await run(CELERY, ['-A', 'ctlapp', ...args, '--json', '-d', node, '--timeout', '2'], env, dir);
      t.equal(r.code, 0, `celery ${args.join(' ')} exits 0 ${r.err.slice(-500)}`);
      return JSON.parse(r.out.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    };
    const processes = async (): Promise<number[]> => {
      const s = (await celery('inspect', 'stats'))[node] as { pool: { processes: number[] } } | undefined;
      return s?.pool.processes ?? [];
    };
    const waitProcesses = async (n: number): Promise<number[]> => {
      const deadline = Date.now() + 15_000;
      let p: number[] = [];
      while (Date.now() < deadline) {
        p = await processes();
        if (p.length === n) return p;
      }
      return p;
    };

    t.same(await celery('inspect', 'ping'), { [node]: { ok: 'pong' } }, 'inspect ping: our node answers pong');
    const registered = (await celery('inspect', 'registered'))[node] as string[];
    t.ok(
      registered.includes('add_numbers') && registered.includes('simulate_work'),
      'inspect registered lists the registry',
    );
    const stats = (await celery('inspect', 'stats'))[node] as Record<string, Record<string, unknown>>;
    t.equal(stats.pool?.['max-concurrency'], 2, 'stats: pool size');
    t.equal((stats.pool?.processes as number[]).length, 2, 'stats: one pid per child');
    t.equal(stats.broker?.transport, kind, 'stats: broker info');
    const aq = (await celery('inspect', 'active_queues'))[node] as { name: string; exchange: { name: string } }[];
    t.same(
      aq.map((q) => [q.name, q.exchange.name]),
      [['celery', 'celery']],
      'inspect active_queues: the queue and its exchange',
    );
    t.ok(typeof stats.rusage?.utime === 'number', 'stats: rusage figures');
    const conf = (await celery('inspect', 'conf'))[node] as Record<string, unknown>;
    t.equal(conf.worker_concurrency, 2, 'inspect conf');

    const checks = await run(PYTHON, [join(dir, 'checks.py')], env, dir, 60_000);
    t.equal(checks.code, 0, `python checks ran ${checks.err.slice(-1000)}`);
    const by = new Map(
      checks.out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as PyCheck)
        .map((c) => [c.check, c]),
    );
    const ev = by.get('events')?.value as
      { types: string[]; hostnames: string[]; result: string; heartbeat: boolean } | undefined;
    t.same(
      ev?.types,
      ['task-received', 'task-started', 'task-succeeded'],
      `Receiver sees the task lifecycle ${JSON.stringify(by.get('events'))}`,
    );
    t.equal(ev?.result, '5', 'task-succeeded carries the result repr');
    t.same(ev?.hostnames, [node], 'every event comes from our one node');
    t.ok(ev?.heartbeat, 'worker-heartbeat seen');
    const at = by.get('active_terminate')?.value as
      { listed: boolean; raised: string | null; state: string; reply: unknown } | undefined;
    t.ok(at?.listed, `inspect active lists the running task ${JSON.stringify(by.get('active_terminate'))}`);
    t.equal(at?.raised, 'TaskRevokedError', 'revoke(terminate=True) aborts the running task');
    t.equal(at?.state, 'REVOKED');
    const rq = by.get('revoke_queued')?.value as { raised: string | null; state: string } | undefined;
    t.equal(
      rq?.state,
      'REVOKED',
      `revoked before it was consumed: never runs ${JSON.stringify(by.get('revoke_queued'))}`,
    );

    // `celery events --dump` (the CLI's event monitor) sees our node's heartbeats.
    const dump = spawn(CELERY, ['-A', 'ctlapp', 'events', '--dump'], {
      cwd: dir,
      env: { ...process.env, ...env, PYTHONPATH: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let dumped = '';
    dump.stdout.on('data', (d: Buffer) => (dumped += d.toString()));
    const dumpDeadline = Date.now() + 15_000;
    while (!(dumped.includes(node) && dumped.includes('heartbeat')) && Date.now() < dumpDeadline)
      await new Promise((r) => setTimeout(r, 100));
    dump.kill('SIGKILL');
    t.ok(dumped.includes(node) && dumped.includes('heartbeat'), `celery events --dump shows our node's heartbeats`);

    // Flower (its HTTP API) lists the node from inspect and follows a task through its events.
    const port = await freePort();
    const flower = spawn(CELERY, ['-A', 'ctlapp', 'flower', `--port=${port}`, '--address=127.0.0.1'], {
      cwd: dir,
      env: { ...process.env, ...env, PYTHONPATH: dir, FLOWER_UNAUTHENTICATED_API: 'true' },
      stdio: 'ignore',
    });
    t.teardown(() => void flower.kill('SIGKILL'));
    const api = async (path: string): Promise<Record<string, Record<string, unknown>>> => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}${path}`);
        return r.ok ? ((await r.json()) as Record<string, Record<string, unknown>>) : {};
      } catch {
        return {};
      }
    };
    let workers: Record<string, Record<string, unknown>> = {};
    const flowerDeadline = Date.now() + 30_000;
    while (workers[node] === undefined && Date.now() < flowerDeadline) {
      workers = await api('/api/workers?refresh=1');
      if (workers[node] === undefined) await new Promise((r) => setTimeout(r, 300));
    }
    const fstats = workers[node]?.stats as { broker?: { transport?: string } } | undefined;
    t.equal(fstats?.broker?.transport, kind, 'Flower lists our node (stats through inspect)');
    const call = await run(CELERY, ['-A', 'ctlapp', 'call', 'add_numbers', '--args', '[20, 22]'], env, dir);
    const callId = call.out.trim().split('\n').pop() ?? '';
    let seen: Record<string, unknown> | undefined;
    while (seen?.state !== 'SUCCESS' && Date.now() < flowerDeadline + 15_000) {
      seen = (await api('/api/tasks'))[callId];
      if (seen?.state !== 'SUCCESS') await new Promise((r) => setTimeout(r, 200));
    }
    t.match(
      seen,
      { name: 'add_numbers', state: 'SUCCESS', result: '42' },
      'Flower followed the task through its events',
    );
    flower.kill('SIGKILL');

    const replies = (r: Record<string, unknown>): string => JSON.stringify(r);
    t.match(
      replies(await celery('control', 'pool_grow', '1')),
      /"celery@ctl-\d+":\{"ok":"pool will grow"\}/,
      'pool_grow reply',
    );
    t.equal((await waitProcesses(3)).length, 3, 'pool_grow: three children');
    t.match(replies(await celery('control', 'pool_shrink', '2')), /"ok":"pool will shrink"/, 'pool_shrink reply');
    t.equal((await waitProcesses(1)).length, 1, 'pool_shrink 2: one child');

    const sd = await run(CELERY, ['-A', 'ctlapp', 'control', 'shutdown', '-d', node, '--timeout', '2'], env, dir);
    t.equal(sd.code, 0, 'control shutdown answered');
    // The pool may be gone already: stop() returns the exit code then (SIGKILL after 20 s would be a failure here).
    const code =
      w.proc.exitCode ?? (w.proc.signalCode === null ? ((await once(w.proc, 'exit')) as [number | null])[0] : null);
    t.equal(code, 0, 'control shutdown: warm shutdown, exit 0');
    t.ok(
      w.lines.some((l) => l.msg === 'control command' && l.method === 'shutdown'),
      'shutdown came over the pidbox',
    );
  });
