// The pool as operators run it: the supervisor plus its operations surfaces — control socket (status/ping),
// opt-in Prometheus metrics and /healthz, and systemd notifications from the main PID. Every surface is
// best-effort except a metrics port that cannot be bound (a configuration error, reported before any fork).
import os from 'node:os';
import type { Logger } from 'pino';
import { backendEntry, workerEntryPath } from '../backends/registry.js';
import type { WorkerConfig } from '../config/types.js';
import { EXIT } from '../exit-codes.js';
import { serializeError } from '../ipc/messages.js';
import { createLogger } from '../log/logger.js';
import type { PoolExtension } from '../supervisor/api.js';
import { startSupervisor, type SupervisorDeps } from '../supervisor/index.js';
import { childEnv } from './child-env.js';
import { ensureSocketDir, startControlServer } from './control-socket.js';
import { dirname } from 'node:path';
import { exitOf, heartbeatOf, restartOf, viewOf, type PoolMeta } from './from-pool.js';
import { MetricsCollector, startMetricsServer } from './metrics.js';
import { openNotifier, watchdogIntervalMs, type Notifier, type NotifyFields } from './sd-notify.js';
import { buildStatus, sampleUsage } from './status.js';
import { SystemdReporter } from './systemd.js';
import type { PoolView } from './view.js';

export interface OpsDeps {
  /** The supervisor's environment: NOTIFY_SOCKET / WATCHDOG_USEC are read from it. */
  env: NodeJS.ProcessEnv;
  now: () => number;
  /** A ready pool whose child has not polled for this long is unhealthy (/healthz 503, no WATCHDOG=1). */
  stallMs: number;
  openNotifier: (env: NodeJS.ProcessEnv, onError: (fields: NotifyFields, error: string) => void) => Notifier;
  /** Called once the pool is started, with a way to read its view (tests, the dev command). */
  onStarted: (view: () => PoolView) => void;
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The supervisor's kill grace after the warm deadline (poolOptions default), so stop extensions cover it. */
const KILL_GRACE_MS = 5000;

/** Run the pool with every ops surface; resolves with the process exit code. */
export async function runPool(
  config: WorkerConfig,
  deps: Partial<SupervisorDeps> = {},
  partialOps: Partial<OpsDeps> = {},
): Promise<number> {
  const ops: OpsDeps = {
    env: deps.env ?? process.env,
    now: deps.now ?? Date.now,
    stallMs: backendEntry(config.backend).stallMs,
    openNotifier: (env, onError) => openNotifier({ env, onError }),
    onStarted: () => undefined,
    ...partialOps,
  };
  // No `pid` in the base: lines about a child carry the CHILD's pid, and a key must not appear twice in one JSON
  // line (log pipelines reject duplicates). The supervisor's own pid is in 'supervisor starting'.
  const log: Logger =
    deps.logger ??
    createLogger({ level: config.logLevel, format: config.logFormat, base: { hostname: os.hostname() } });
  const meta: PoolMeta = { pid: process.pid, backend: config.backend, hostname: config.hostname, startedAt: ops.now() };
  const collector = new MetricsCollector();
  const cleanups: (() => Promise<void> | void)[] = [];
  let view: () => PoolView = () =>
    viewOf(
      { phase: 'starting', stopping: false, target: config.concurrency, ceiling: 0, autoscale: null, children: [] },
      meta,
    );
  const surfaces: Surfaces = { config, log, ops, view: () => view(), cleanups };

  if (config.metricsPort !== null && !(await startMetrics(surfaces, collector))) return EXIT.CONFIG;
  if (!socketDirSafe(surfaces)) return EXIT.CONFIG;
  const reporter = await startReporter(surfaces);
  const env = deps.env ?? process.env;
  const handle = startSupervisor(config, {
    ...deps,
    workerEntry: deps.workerEntry ?? workerEntryPath(config.backend, env),
    env: childEnv(env),
    logger: log,
    extensions: [opsObserver(collector, reporter), ...(deps.extensions ?? (await backendExtensions(config, log)))],
    onLifecycle: (what) => {
      reporter?.notice(what);
      deps.onLifecycle?.(what);
    },
  });
  view = () => viewOf(handle.snapshot(), meta);
  await startStatusSocket(surfaces, meta);
  ops.onStarted(view);

  const code = await handle.done;
  for (const c of cleanups.reverse()) await c();
  return code;
}

/** What the ops surfaces share: settings, log, seams, the pool's view, and the list of things to close at exit. */
interface Surfaces {
  config: WorkerConfig;
  log: Logger;
  ops: OpsDeps;
  view: () => PoolView;
  cleanups: (() => Promise<void> | void)[];
}

/** /metrics and /healthz; false when the port cannot be bound (a configuration error, before any fork). */
async function startMetrics(s: Surfaces, collector: MetricsCollector): Promise<boolean> {
  const { config, log } = s;
  try {
    const m = await startMetricsServer({
      host: config.metricsHost,
      port: config.metricsPort as number,
      view: s.view,
      collector,
      stallMs: s.ops.stallMs,
      now: s.ops.now,
    });
    s.cleanups.push(m.close);
    log.info({ host: config.metricsHost, port: m.port }, 'metrics server listening');
    return true;
  } catch (e) {
    log.fatal({ host: config.metricsHost, port: config.metricsPort, error: errMessage(e) }, 'cannot serve metrics');
    return false;
  }
}

/** systemd notifications from the main pid (READY, WATCHDOG, STATUS, STOPPING), when run under systemd. */
async function startReporter(s: Surfaces): Promise<SystemdReporter | null> {
  let notifier: Notifier | null = null;
  try {
    notifier = s.ops.openNotifier(s.ops.env, (fields, error) =>
      s.log.warn({ fields: Object.keys(fields), error }, 'sd_notify message not delivered'),
    );
    if (notifier.transport !== 'none') s.log.debug({ transport: notifier.transport }, 'notifying systemd');
  } catch (e) {
    // systemd will time the start out; say why in the journal.
    s.log.error(
      { error: errMessage(e) },
      'cannot notify systemd (needs systemd-notify, or OpenFile= on systemd >= 253)',
    );
  }
  if (notifier === null) return null;
  const reporter = new SystemdReporter({
    notifier,
    view: s.view,
    stallMs: s.ops.stallMs,
    watchdogMs: watchdogIntervalMs(s.ops.env, process.pid),
    // Each message may cost a systemd-notify process: refresh STATUS= at most every 5 s.
    statusEveryMs: 5000,
    stopBudgetMs: s.config.shutdownTimeoutMs + KILL_GRACE_MS,
    stopMarginMs: 5000,
    now: s.ops.now,
    onSendError: (fields) => s.log.debug({ fields: Object.keys(fields) }, 'sd_notify datagram not sent'),
  });
  reporter.start();
  s.cleanups.push(() => reporter.close());
  return reporter;
}

/** The ops observer is an extension like the backend's: it hears the pool's events from the first fork on. */
function opsObserver(collector: MetricsCollector, reporter: SystemdReporter | null): PoolExtension {
  return {
    name: 'ops',
    attach(pool) {
      pool.on('childExited', (e) => collector.record(exitOf(e)));
      pool.on('childReplaced', (e) => collector.record(restartOf(e)));
      pool.on('childHeartbeat', (e) => collector.record(heartbeatOf(e)));
      // A rolling restart (HUP) is over: tell systemd we are ready again.
      pool.on('rollingRestartDone', () => {
        if (pool.snapshot().phase === 'running') reporter?.notice('ready');
      });
    },
  };
}

/**
 * The control socket's directory, before any fork: an unsafe one (another owner, group/world-writable) is a
 * configuration error (exit 78); one that cannot be created is only the warning startStatusSocket gives.
 */
function socketDirSafe(s: Surfaces): boolean {
  if (s.config.controlSocket === '') return true;
  try {
    ensureSocketDir(dirname(s.config.controlSocket));
  } catch (e) {
    if (!(e instanceof Error && e.name === 'ControlSocketUnsafe')) return true;
    s.log.fatal({ path: s.config.controlSocket, error: e.message }, 'control socket directory is unsafe');
    return false;
  }
  return true;
}

/** The control socket (`status`, `ping`): the pool matters more, so a socket that cannot open is only a warning. */
async function startStatusSocket(s: Surfaces, meta: PoolMeta): Promise<void> {
  const { config, log, ops } = s;
  try {
    const ctl = await startControlServer(config.controlSocket, {
      ping: () => ({ pid: process.pid, uptimeMs: ops.now() - meta.startedAt }),
      status: async () => {
        const v = s.view();
        const pids = v.children.flatMap((c) => (c.pid === null ? [] : [c.pid]));
        return buildStatus(v, await sampleUsage(pids), ops.now(), ops.stallMs);
      },
    });
    s.cleanups.push(ctl.close);
    log.debug({ path: config.controlSocket }, 'control socket listening');
  } catch (e) {
    log.warn({ path: config.controlSocket, error: errMessage(e) }, 'control socket unavailable; status will not work');
  }
}

/** The backend's pool extension (Celery: remote control and worker events), or none; a load failure is logged. */
async function backendExtensions(config: WorkerConfig, log: Logger): Promise<PoolExtension[]> {
  const load = backendEntry(config.backend).poolExtension;
  if (!load) return [];
  try {
    return [await load(config)];
  } catch (e) {
    log.error({ backend: config.backend, err: serializeError(e) }, 'backend pool extension unavailable');
    return [];
  }
}
