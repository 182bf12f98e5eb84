// The pool as operators run it: the supervisor plus its operations surfaces — control socket (status/ping),
// opt-in Prometheus metrics and /healthz, and systemd notifications from the main PID. Every surface is
// best-effort except a metrics port that cannot be bound (a configuration error, reported before any fork).
import os from 'node:os';
import type { Logger } from 'pino';
import type { WorkerConfig } from '../config/types.js';
import { EXIT } from '../exit-codes.js';
import { createLogger } from '../log/logger.js';
import { startSupervisor, type SupervisorDeps } from '../supervisor/index.js';
import { startControlServer } from './control-socket.js';
import { opsEventsOf, viewOf, type PoolMeta } from './from-pool.js';
import { MetricsCollector, startMetricsServer } from './metrics.js';
import { openNotifier, watchdogIntervalMs, type Notifier, type NotifyFields } from './sd-notify.js';
import { buildStatus, sampleUsage } from './status.js';
import { SystemdReporter } from './systemd.js';
import { defaultStallMs, type PoolView } from './view.js';

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
    stallMs: defaultStallMs(config.backend),
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
  let view: () => PoolView = () => viewOf({ phase: 'starting', target: config.concurrency, children: [] }, meta);

  if (config.metricsPort !== null) {
    try {
      const m = await startMetricsServer({
        host: config.metricsHost,
        port: config.metricsPort,
        view: () => view(),
        collector,
        stallMs: ops.stallMs,
        now: ops.now,
      });
      cleanups.push(m.close);
      log.info({ host: config.metricsHost, port: m.port }, 'metrics server listening');
    } catch (e) {
      log.fatal({ host: config.metricsHost, port: config.metricsPort, error: errMessage(e) }, 'cannot serve metrics');
      return EXIT.CONFIG;
    }
  }

  let notifier: Notifier | null = null;
  try {
    notifier = ops.openNotifier(ops.env, (fields, error) =>
      log.warn({ fields: Object.keys(fields), error }, 'sd_notify message not delivered'),
    );
    if (notifier.transport !== 'none') log.debug({ transport: notifier.transport }, 'notifying systemd');
  } catch (e) {
    // systemd will time the start out; say why in the journal.
    log.error({ error: errMessage(e) }, 'cannot notify systemd (needs systemd-notify, or OpenFile= on systemd >= 253)');
  }
  const wdMs = watchdogIntervalMs(ops.env, process.pid);
  const reporter =
    notifier === null
      ? null
      : new SystemdReporter({
          notifier,
          view: () => view(),
          stallMs: ops.stallMs,
          watchdogMs: wdMs,
          // Each message may cost a systemd-notify process: refresh STATUS= at most every 5 s.
          statusEveryMs: 5000,
          stopBudgetMs: config.shutdownTimeoutMs + KILL_GRACE_MS,
          stopMarginMs: 5000,
          now: ops.now,
          onSendError: (fields) => log.debug({ fields: Object.keys(fields) }, 'sd_notify datagram not sent'),
        });
  if (reporter !== null) {
    reporter.start();
    cleanups.push(() => reporter.close());
  }

  const lastExit = new Map<number, string>();
  const handle = startSupervisor(config, {
    ...deps,
    logger: log,
    onLifecycle: (what) => {
      reporter?.notice(what);
      deps.onLifecycle?.(what);
    },
    onEvent: (e, before, after) => {
      for (const ev of opsEventsOf(e, before, after, lastExit)) collector.record(ev);
      // A rolling restart (HUP) is over when its bookkeeping clears: tell systemd we are ready again.
      if (before.rolling !== null && after.rolling === null && after.phase === 'running') reporter?.notice('ready');
      deps.onEvent?.(e, before, after);
    },
  });
  view = () => viewOf(handle.snapshot(), meta);

  try {
    const ctl = await startControlServer(config.controlSocket, {
      ping: () => ({ pid: process.pid, uptimeMs: ops.now() - meta.startedAt }),
      status: async () => {
        const v = view();
        const pids = v.children.flatMap((c) => (c.pid === null ? [] : [c.pid]));
        return buildStatus(v, await sampleUsage(pids), ops.now(), ops.stallMs);
      },
    });
    cleanups.push(ctl.close);
    log.debug({ path: config.controlSocket }, 'control socket listening');
  } catch (e) {
    // The pool matters more than `status`: run without the socket, loudly.
    log.warn({ path: config.controlSocket, error: errMessage(e) }, 'control socket unavailable; status will not work');
  }
  ops.onStarted(view);

  const code = await handle.done;
  for (const c of cleanups.reverse()) await c();
  return code;
}

/** Same signature as the supervisor's runSupervisor, so the CLI can load either. */
export const runSupervisor = runPool;
