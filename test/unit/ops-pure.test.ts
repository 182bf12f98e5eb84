// Pure operations logic: health verdict, systemd message planning, status table, Prometheus rendering.
import t from 'tap';
import { emptyHistogram, observe } from '../../src/ipc/histogram.js';
import { labelValue, MetricsCollector, renderMetrics } from '../../src/ops/metrics.js';
import { childEnv, pm2InjectedKeys } from '../../src/ops/child-env.js';
import {
  enqueueNotify,
  formatNotify,
  inheritedNotifyFd,
  notifyAssignments,
  watchdogIntervalMs,
} from '../../src/ops/sd-notify.js';
import { buildStatus, formatDuration, formatStatusTable } from '../../src/ops/status.js';
import { planLifecycle, planTick } from '../../src/ops/systemd.js';
import { assessHealth, type ChildView, type PoolView } from '../../src/ops/view.js';

const NOW = 1_700_000_000_000;

function child(index: number, over: Partial<ChildView> = {}): ChildView {
  return {
    index,
    pid: 1000 + index,
    state: 'ready',
    spawnedAt: NOW - 60_000,
    readyAt: NOW - 59_000,
    restarts: 0,
    active: 1,
    processed: 10,
    failed: 2,
    lastPollAt: NOW - 1000,
    rss: 50 * 1024 * 1024,
    ...over,
  };
}

function pool(over: Partial<PoolView> = {}): PoolView {
  return {
    pid: 999,
    backend: 'celery',
    hostname: 'celery@box',
    phase: 'running',
    startedAt: NOW - 120_000,
    target: 2,
    children: [child(0), child(1)],
    ...over,
  };
}

void t.test('health: running pool with polling children is healthy', async (t) => {
  t.same(assessHealth(pool(), NOW, 30_000), { healthy: true, reasons: [] });
});

void t.test('health: a stalled child, a missing child and a stopping pool are each named', async (t) => {
  const h = assessHealth(
    pool({ phase: 'stopping-warm', children: [child(0, { lastPollAt: NOW - 95_000 })] }),
    NOW,
    30_000,
  );
  t.equal(h.healthy, false);
  t.same(h.reasons, ['pool is stopping-warm', '1/2 children ready', 'child 0 stalled: no successful poll for 95 s']);
  // A child that never polled is judged from when it became ready.
  const never = assessHealth(pool({ children: [child(0, { lastPollAt: null }), child(1)] }), NOW, 30_000);
  t.equal(never.healthy, false, 'ready 59 s ago and never polled = stalled');
  t.equal(assessHealth(pool({ children: [child(0, { lastPollAt: null }), child(1)] }), NOW, 90_000).healthy, true);
});

void t.test('sd_notify formatting and environment parsing', async (t) => {
  t.equal(
    formatNotify({ READY: 1, STATUS: 'a\nb' }),
    'READY=1\nSTATUS=a b',
    'newline in a value cannot inject a field',
  );
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '20000000' }, 5), 10_000, 'half of WatchdogSec');
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '6' }, 5), null, 'meant for another pid');
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '5' }, 5), 10_000);
  t.equal(watchdogIntervalMs({}, 5), null);
  t.equal(inheritedNotifyFd({ LISTEN_PID: '5', LISTEN_FDS: '2', LISTEN_FDNAMES: 'x:notify' }, 5), 4);
  t.equal(inheritedNotifyFd({ LISTEN_PID: '6', LISTEN_FDS: '1', LISTEN_FDNAMES: 'notify' }, 5), null);
  t.equal(inheritedNotifyFd({ LISTEN_PID: '5', LISTEN_FDS: '1', LISTEN_FDNAMES: 'other' }, 5), null);
  t.same(notifyAssignments({ STATUS: 'x\r\ny', WATCHDOG: 1 }), ['STATUS=x y', 'WATCHDOG=1'], 'one argv element each');
});

void t.test('sd_notify queue: status-only messages merge, lifecycle messages keep their order', async (t) => {
  let q = enqueueNotify([], { STATUS: 'a' });
  q = enqueueNotify(q, { WATCHDOG: 1, STATUS: 'b' });
  t.same(q, [{ STATUS: 'b', WATCHDOG: 1 }], 'newest STATUS wins, WATCHDOG kept');
  q = enqueueNotify(q, { STOPPING: 1, EXTEND_TIMEOUT_USEC: 5 });
  q = enqueueNotify(q, { EXTEND_TIMEOUT_USEC: 9 });
  t.same(q, [{ STATUS: 'b', WATCHDOG: 1 }, { STOPPING: 1, EXTEND_TIMEOUT_USEC: 5 }, { EXTEND_TIMEOUT_USEC: 9 }]);
  q = enqueueNotify([{ RELOADING: 1 }], { READY: 1 });
  t.same(q, [{ RELOADING: 1 }, { READY: 1 }], 'RELOADING then READY stay two messages, in order');
  const input = [{ STATUS: 'x' }];
  enqueueNotify(input, { STATUS: 'y' });
  t.same(input, [{ STATUS: 'x' }], 'pure: the queue given is not changed');
});

void t.test(
  'systemd tick: watchdog only while healthy and ready, status only on change, extend while stopping',
  async (t) => {
    const base = {
      now: NOW,
      stallMs: 30_000,
      lastStatus: null,
      watchdog: true,
      stopDeadline: null,
      stopMarginMs: 5000,
    };
    const first = planTick({ ...base, view: pool() });
    t.equal(first.WATCHDOG, 1);
    t.match(first.STATUS, /^running: 2\/2 children ready, 2 active, 20 processed, 4 failed$/);
    const again = planTick({ ...base, view: pool(), lastStatus: String(first.STATUS) });
    t.same(again, { WATCHDOG: 1 }, 'unchanged status is not re-sent');
    const stalled = planTick({ ...base, view: pool({ children: [child(0), child(1, { lastPollAt: NOW - 40_000 })] }) });
    t.notOk('WATCHDOG' in stalled, 'no WATCHDOG=1 while a child is stalled: systemd restarts us');
    t.notOk('WATCHDOG' in planTick({ ...base, watchdog: false, view: pool() }));
    const stopping = planTick({ ...base, view: pool({ phase: 'stopping-warm' }), stopDeadline: NOW + 20_000 });
    t.equal(stopping.EXTEND_TIMEOUT_USEC, 25_000_000, 'remaining time plus margin, in µs');
    t.notOk('WATCHDOG' in stopping);
  },
);

void t.test('systemd lifecycle notices', async (t) => {
  t.same(planLifecycle('ready', pool(), NOW, NOW, 0, 1), {
    READY: 1,
    STATUS: 'running: 2/2 children ready, 2 active, 20 processed, 4 failed',
    MAINPID: 999,
  });
  const stop = planLifecycle('stopping', pool(), NOW, NOW + 30_000, 5000, 1);
  t.equal(stop.STOPPING, 1);
  t.equal(stop.EXTEND_TIMEOUT_USEC, 35_000_000);
  const reload = planLifecycle('reloading', pool(), NOW, NOW, 0, 123456);
  t.equal(reload.RELOADING, 1);
  t.equal(reload.MONOTONIC_USEC, 123456);
});

void t.test('status document and table', async (t) => {
  const usage = new Map([[1000, { cpu: 12.34, memory: 80 * 1024 * 1024 }]]);
  const doc = buildStatus(pool({ children: [child(1), child(0, { restarts: 3 })] }), usage, NOW, 30_000);
  t.same(
    doc.children.map((c) => [c.index, c.pid, c.restarts, c.cpuPercent, c.rssBytes]),
    [
      [0, 1000, 3, 12.3, 80 * 1024 * 1024],
      [1, 1001, 0, null, 50 * 1024 * 1024],
    ],
    'sorted by slot, live usage preferred over heartbeat RSS',
  );
  t.equal(doc.healthy, true);
  const table = formatStatusTable(doc);
  const lines = table.trimEnd().split('\n');
  t.match(lines[0], /^celery@box \(celery\) pid 999, up 2m0s — running: 2\/2 children ready/);
  t.match(lines[1], /^CHILD\s+PID\s+STATE\s+UPTIME\s+RESTARTS\s+RSS\s+CPU%\s+ACTIVE\s+DONE\s+FAILED\s+LAST POLL$/);
  t.match(lines[2], /^0\s+1000\s+ready\s+1m0s\s+3\s+80\.0M\s+12\.3\s+1\s+10\s+2\s+1s ago$/);
  t.match(lines[3], /^1\s+1001\s+ready\s+1m0s\s+0\s+50\.0M\s+-\s+/);
  t.equal(formatDuration(3_725_000), '1h2m');
  t.equal(formatDuration(4200), '4s');
  t.equal(formatDuration(null), '-');
  const sick = formatStatusTable(buildStatus(pool({ phase: 'starting' }), new Map(), NOW, 30_000));
  t.match(sick, /\n! pool is starting\n/);
});

void t.test('metrics: counters survive child replacement; histogram sums children', async (t) => {
  const c = new MetricsCollector();
  const h1 = emptyHistogram([0.1, 1]);
  observe(h1, 0.05);
  observe(h1, 0.5);
  const h2 = emptyHistogram([0.1, 1]);
  observe(h2, 3);
  c.record({
    type: 'heartbeat',
    childId: 1,
    processed: 5,
    failed: 1,
    durations: h1,
    counts: { messages_without_id: 2 },
  });
  c.record({
    type: 'heartbeat',
    childId: 2,
    processed: 7,
    failed: 0,
    durations: h2,
    counts: { messages_without_id: 1 },
  });
  c.record({ type: 'exit', childId: 1, code: null, signal: 'SIGKILL', reason: 'heartbeat-timeout' });
  c.record({ type: 'restart', slot: 0, reason: 'heartbeat-timeout' });
  c.record({ type: 'heartbeat', childId: 3, processed: 1, failed: 1, counts: { messages_without_id: 4 } });
  const text = renderMetrics(pool(), c, NOW, 30_000);
  t.match(text, /^tbw_tasks_total\{backend="celery",state="succeeded"\} 11$/m, '5+7+1 processed - 2 failed');
  t.match(text, /^tbw_tasks_total\{backend="celery",state="failed"\} 2$/m);
  t.match(text, /^tbw_child_restarts_total\{backend="celery",reason="heartbeat-timeout"\} 1$/m);
  t.match(text, /^tbw_child_exits_total\{backend="celery",code="",signal="SIGKILL",reason="heartbeat-timeout"\} 1$/m);
  t.match(text, /^tbw_children_up\{backend="celery"\} 2$/m);
  t.match(
    text,
    /^tbw_backend_events_total\{backend="celery",event="messages_without_id"\} 7$/m,
    'backend counts: the retired child’s 2 + 1 + 4',
  );
  t.match(text, /^tbw_task_duration_seconds_bucket\{backend="celery",le="0.1"\} 1$/m);
  t.match(text, /^tbw_task_duration_seconds_bucket\{backend="celery",le="1"\} 2$/m);
  t.match(text, /^tbw_task_duration_seconds_bucket\{backend="celery",le="\+Inf"\} 3$/m);
  t.match(text, /^tbw_task_duration_seconds_sum\{backend="celery"\} 3.55$/m);
  t.match(text, /^# TYPE tbw_task_duration_seconds histogram$/m);
  t.equal(labelValue('a"b\\c\nd'), '"a\\"b\\\\c\\nd"');
  // Every sample line is `name{labels} number`: a scraper would reject anything else.
  for (const line of text.trimEnd().split('\n')) {
    if (!line.startsWith('#')) t.match(line, /^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$/, line);
  }
});

void t.test('pm2 app options in the environment never reach children; user variables do', async (t) => {
  const env = {
    PATH: '/usr/bin',
    http_proxy: 'http://proxy:3128',
    CELERY_BROKER_URL: 'redis://x',
    pm_id: '0',
    name: 'task-backend-worker',
    'task-backend-worker': '{}',
    status: 'launching',
    autorestart: 'true',
    env_temporal: '[object Object]',
    instance_var: 'NODE_APP_INSTANCE',
    NODE_APP_INSTANCE: '0',
    pm_exec_path: '/x',
    PM2_HOME: '/tmp/p',
    unique_id: 'u',
    NOTIFY_SOCKET: '/run/systemd/notify',
  };
  t.same(childEnv(env), { PATH: '/usr/bin', http_proxy: 'http://proxy:3128', CELERY_BROKER_URL: 'redis://x' });
  t.same(pm2InjectedKeys({ status: 'x', args: 'y' }), new Set(), 'without pm_id nothing is pm2’s');
  t.equal(childEnv({ status: 'mine', PATH: '/bin' }).status, 'mine', 'outside pm2 a variable named status stays');
});
