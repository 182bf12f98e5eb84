// Celery ecosystem fidelity against the real binary, with the tools Celery users run: worker events without -E
// (a Python event receiver), enable/disable_events switching task events only, Flower's API (workers, revoke with
// terminate, a revoked countdown task, add-consumer in place), the revoke family over `celery control/inspect`,
// and counters that survive a pool restart. Runs on every transport in TRANSPORTS.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort } from '../helpers/redis.js';
import { FIXTURE_TASKS, startBrokers, startWorker, TRANSPORTS } from './celery-harness.js';
import { CELERY, PY_DIR, run, until, watchEvents, type Json, type Seen } from './celery-tools.js';

for (const kind of TRANSPORTS)
  void t.test(`Celery tools see a Python-like node (${kind})`, async (t) => {
    const b = await startBrokers(kind);
    t.teardown(() => b.stop());
    const env = { BROKER: b.broker, BACKEND: b.redis.url, PYTHONPATH: PY_DIR };
    const node = `celery@fid-${process.pid}`;
    const watcher = await watchEvents(env);
    t.teardown(() => void watcher.proc.kill('SIGKILL'));
    const seen = watcher.seen;
    const mine = (type: string): Seen[] => seen.filter((s) => s.event.hostname === node && s.event.type === type);
    const forTask = (id: string): string[] => seen.filter((s) => s.event.uuid === id).map((s) => String(s.event.type));

    // No -E: worker events only.
    const w = startWorker(b.broker, ['-c', '2', '-n', node, '--tasks', FIXTURE_TASKS], b.env);
    t.teardown(async () => void (await w.stop('SIGKILL')));
    await w.waitFor((l) => l.msg === 'celery control node ready', 30_000, 'control node');
    await until('worker-online and two heartbeats', () =>
      mine('worker-online').length > 0 && mine('worker-heartbeat').length >= 2 ? true : undefined,
    );
    t.pass('worker-online and heartbeats arrive without -E');
    t.equal(mine('worker-online')[0]?.event.pid, w.proc.pid, "worker events carry the node's (supervisor's) pid");

    const celery = async (...args: string[]): Promise<Json> => {
      const r = await run(CELERY, ['-A', 'fidelity_app', ...args, '--json', '-d', node, '--timeout', '3'], env);
      t.equal(r.code, 0, `celery ${args.join(' ')} exits 0 ${r.err.slice(-400)}`);
      // inspect prints {node: reply}, control a list of them.
      const v = JSON.parse(r.out.trim().split('\n').pop() ?? '{}') as Json | Json[];
      return Array.isArray(v) ? Object.assign({}, ...v) : v;
    };
    const call = async (task: string, args: unknown[], extra: string[] = []): Promise<string> => {
      const r = await run(CELERY, ['-A', 'fidelity_app', 'call', task, '--args', JSON.stringify(args), ...extra], env);
      t.equal(r.code, 0, `celery call ${task} ${r.err.slice(-300)}`);
      return r.out.trim().split('\n').pop() ?? '';
    };

    // Flower, started on a free port with its API open. It broadcasts enable_events every few seconds by
    // default, which would undo the disable_events checked below: off here (nothing below needs its events).
    const port = await freePort();
    const fargs = ['-A', 'fidelity_app', 'flower', `--port=${port}`, '--address=127.0.0.1', '--enable_events=False'];
    const flower = spawn(CELERY, fargs, {
      cwd: PY_DIR,
      env: { ...process.env, ...env, FLOWER_UNAUTHENTICATED_API: 'true' },
      stdio: 'ignore',
    });
    t.teardown(() => void flower.kill('SIGKILL'));
    const api = async (path: string, method = 'GET'): Promise<Json | undefined> => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}${path}`, { method });
        return r.ok ? ((await r.json()) as Json) : undefined;
      } catch {
        return undefined;
      }
    };
    const state = async (id: string): Promise<string | undefined> =>
      (await api(`/api/task/result/${id}`))?.state as string | undefined;
    const settled = (id: string, want: string): Promise<string> =>
      until(`${id} ${want}`, async () => ((await state(id)) === want ? want : undefined), 20_000);

    const info = await until('Flower lists the node', async () => {
      // Flower asks a node for its task lists (revoked among them) only when asked about that one node.
      const ws = await api(`/api/workers?refresh=1&workername=${encodeURIComponent(node)}`);
      const n = ws?.[node] as Json | undefined;
      return n?.stats && n.active_queues && n.revoked !== undefined ? n : undefined;
    });
    const fstats = info.stats as { pool: { processes: number[]; 'max-concurrency': number } };
    t.equal(fstats.pool['max-concurrency'], 2, 'Flower /api/workers: pool');
    t.same(
      (info.active_queues as { name: string }[]).map((q) => q.name),
      ['celery'],
      'Flower /api/workers: queues',
    );
    t.ok(Array.isArray(info.revoked), `Flower /api/workers: revoked is a list ${JSON.stringify(info.revoked)}`);

    // A task without -E: it runs, and no task event goes out.
    const quiet = await call('add_numbers', [1, 2]);
    await settled(quiet, 'SUCCESS');
    const hb = mine('worker-heartbeat').length;
    await until('another heartbeat', () => (mine('worker-heartbeat').length > hb ? true : undefined));
    t.same(forTask(quiet), [], 'no task events without -E');

    t.same(await celery('control', 'enable_events'), { [node]: { ok: 'task events enabled' } });
    const loud = await call('add_numbers', [2, 2]);
    await until('task events after enable_events', () => (forTask(loud).includes('task-succeeded') ? true : undefined));
    t.same(forTask(loud), ['task-received', 'task-started', 'task-succeeded'], 'enable_events: task events');
    t.same(await celery('control', 'disable_events'), { [node]: { ok: 'task events disabled' } });
    const hushed = await call('add_numbers', [3, 3]);
    await settled(hushed, 'SUCCESS');
    const hb2 = mine('worker-heartbeat').length;
    await until('heartbeats after disable_events', () => (mine('worker-heartbeat').length > hb2 ? true : undefined));
    t.same(forTask(hushed), [], 'disable_events stops task events');
    t.pass('and heartbeats go on');

    // Flower's revoke with terminate on a running task.
    const long = await call('tbw_test.sleep', [30]);
    const q = await until('query_task: active', async () => {
      const r = ((await celery('inspect', 'query_task', long))[node] ?? {}) as Json;
      return (r[long] as unknown[] | undefined)?.[0] === 'active' ? r : undefined;
    });
    t.equal((q[long] as [string, Json])[1].id, long, 'inspect query_task: [state, request info]');
    t.ok(await api(`/api/task/revoke/${long}?terminate=true`, 'POST'), 'Flower: revoke terminate=true');
    t.equal(await settled(long, 'REVOKED'), 'REVOKED', 'the running task ends REVOKED');

    // A countdown task the worker holds, revoked through Flower: REVOKED at once, never runs.
    const dir = mkdtempSync(join(tmpdir(), 'tbw-fid-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const touched = join(dir, 'ran');
    // A countdown long enough for the CLI round trips below on a loaded machine.
    const sentAt = Date.now();
    const later = await call('tbw_test.touch', [touched], ['--countdown', '10']);
    await until('inspect scheduled lists it', async () => {
      const s = ((await celery('inspect', 'scheduled'))[node] ?? []) as { request: { id: string } }[];
      return s.some((x) => x.request.id === later) ? true : undefined;
    });
    const held = ((await celery('inspect', 'query_task', later))[node] ?? {}) as Json;
    t.equal(
      (held[later] as unknown[] | undefined)?.[0],
      'scheduled',
      "query_task: an ETA-held one (Celery 5.7's name)",
    );
    t.ok(await api(`/api/task/revoke/${later}`, 'POST'), 'Flower: revoke');
    t.equal(await settled(later, 'REVOKED'), 'REVOKED', 'a held countdown task ends REVOKED');
    const revoked = (await celery('inspect', 'revoked'))[node] as string[];
    t.ok(revoked.includes(later) && revoked.includes(long), 'inspect revoked lists both');
    await new Promise((r) => setTimeout(r, Math.max(0, sentAt + 11_500 - Date.now()))); // past its countdown
    t.notOk(existsSync(touched), 'the revoked countdown task never ran');
    t.same(await celery('inspect', 'scheduled'), { [node]: [] }, 'nor is it held any more');

    // control terminate <signal> <id>, and control heartbeat.
    const killed = await call('tbw_test.sleep', [30]);
    await until('running', async () => {
      const r = ((await celery('inspect', 'query_task', killed))[node] ?? {}) as Json;
      return (r[killed] as unknown[] | undefined)?.[0] === 'active' ? true : undefined;
    });
    t.same(await celery('control', 'terminate', 'KILL', killed), { [node]: { ok: `terminate: ${killed}` } });
    await settled(killed, 'REVOKED');
    t.same(await celery('control', 'heartbeat'), { [node]: null }, "control heartbeat: Celery's None reply");
    // A task that ignores its signal: TERM ends its run after the grace all the same.
    const deaf = await call('tbw_test.deaf', []);
    await until('deaf running', async () => {
      const r = ((await celery('inspect', 'query_task', deaf))[node] ?? {}) as Json;
      return (r[deaf] as unknown[] | undefined)?.[0] === 'active' ? true : undefined;
    });
    const t0 = Date.now();
    t.same(await celery('control', 'terminate', 'TERM', deaf), { [node]: { ok: `terminate: ${deaf}` } });
    await settled(deaf, 'REVOKED');
    t.ok(Date.now() - t0 < 10_000, `a task deaf to its signal ends REVOKED after the grace (${Date.now() - t0} ms)`);

    // add-consumer through Flower: in place, the same children.
    const pids = async (): Promise<number[]> =>
      ((await celery('inspect', 'stats'))[node] as typeof fstats).pool.processes.slice().sort();
    const before = await pids();
    t.ok(await api(`/api/worker/queue/add-consumer/${node}?queue=extra`, 'POST'), 'Flower: add-consumer');
    const aq = (await celery('inspect', 'active_queues'))[node] as { name: string }[];
    t.same(
      aq.map((x) => x.name),
      ['celery', 'extra'],
      'active_queues shows the new queue',
    );
    const onExtra = await call('add_numbers', [20, 22], ['--queue', 'extra']);
    await settled(onExtra, 'SUCCESS');
    t.same(await pids(), before, 'no child was restarted (same pids)');
    t.ok(await api(`/api/worker/queue/cancel-consumer/${node}?queue=extra`, 'POST'), 'Flower: cancel-consumer');
    t.same(await pids(), before, 'still the same children');

    // Counters survive child replacement.
    const totals = ((await celery('inspect', 'stats'))[node] as { total: Json }).total;
    t.equal(totals.add_numbers, 4, `stats.total per task name ${JSON.stringify(totals)}`);
    await celery('control', 'pool_restart');
    await until('new children', async () => {
      const p = await pids();
      return p.length === 2 && p.every((x) => !before.includes(x)) ? p : undefined;
    });
    const after = ((await celery('inspect', 'stats'))[node] as { total: Json }).total;
    t.same(after, totals, 'stats.total survives the children being replaced');
  });
