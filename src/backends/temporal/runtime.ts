// The Temporal Runtime of a child: SDK and Core logs go through the child's pino logger (so they carry the
// child's tags), and NO signal handlers — the supervisor owns signals and talks to the child over IPC.
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import type { LogLevel as TemporalLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { Logger } from 'pino';

const TO_PINO = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** Core's warning about a gRPC call it retries by itself: one per poller per retry while the server is away. */
const CORE_RETRY = /^gRPC call \w+ retried \d+ times$/;
/**
 * The SDK's per-attempt lines that this worker writes itself, in its own words: Core's retries (watch.ts says them
 * once per attempt) and "Activity failed" (the task's own failure line, tasks/task-log.ts). They go to debug.
 */
const SAID_BY_US = (message: string): boolean => CORE_RETRY.test(message) || message === 'Activity failed';

/** Told of Core's retry warnings (the running backend's ServerWatch); one per process, like the Runtime. */
let onCoreRetry: ((error: unknown) => void) | null = null;
export function watchCoreRetries(listener: ((error: unknown) => void) | null): void {
  onCoreRetry = listener;
}

/** Adapts pino to the SDK's Logger interface; the SDK's `error` meta key becomes pino's `err`. */
export function sdkLogger(logger: Logger): TemporalLogger {
  const log = (level: TemporalLevel, message: string, meta?: LogMetadata): void => {
    const { error, ...rest } = (meta ?? {}) as LogMetadata & { error?: unknown };
    const ours = SAID_BY_US(message);
    if (ours && CORE_RETRY.test(message)) onCoreRetry?.(error);
    logger[ours ? 'debug' : TO_PINO[level]](error === undefined ? rest : { ...rest, err: error }, message);
  };
  return {
    log,
    trace: (m, meta) => log('TRACE', m, meta),
    debug: (m, meta) => log('DEBUG', m, meta),
    info: (m, meta) => log('INFO', m, meta),
    warn: (m, meta) => log('WARN', m, meta),
    error: (m, meta) => log('ERROR', m, meta),
  };
}

/** Core's own verbosity follows ours, but never below WARN unless we debug (Core INFO is chatty per poll). */
function coreLevel(level: string): TemporalLevel {
  if (level === 'trace') return 'TRACE';
  if (level === 'debug') return 'DEBUG';
  if (level === 'error' || level === 'fatal' || level === 'silent') return 'ERROR';
  return 'WARN';
}

export function runtimeOptions(logger: Logger): RuntimeOptions {
  return {
    logger: sdkLogger(logger),
    shutdownSignals: [],
    telemetryOptions: {
      logging: { filter: { core: coreLevel(logger.level), other: 'ERROR' }, forward: {} },
      // No metrics exporter: one per child would fight over a port; metrics are the supervisor's concern.
    },
  };
}

type GatedLogger = TemporalLogger & { flush?: () => void; close?: () => void };

/**
 * Drops SDK log calls below the pino logger's level before they reach `inner`. With Core logs forwarded, the
 * Runtime's logger is the SDK's collector, which accepts every call at TRACE — it reads the native clock and
 * buffers the entry for 100 ms — and only our pino logger drops it afterwards. The worker logs a dozen TRACE and
 * DEBUG lines per workflow + activity (activations, "Activity started", ...), so that was per-activity work a plain
 * worker with a WARN logger does not do. flush/close are passed through (the Runtime calls them on the collector).
 */
export function levelGate(inner: GatedLogger, logger: Logger): GatedLogger {
  const enabled = (level: TemporalLevel): boolean => logger.isLevelEnabled(TO_PINO[level]);
  const gated: GatedLogger = {
    log: (level, message, meta) => {
      if (enabled(level)) inner.log(level, message, meta);
    },
    trace: (message, meta) => {
      if (enabled('TRACE')) inner.trace(message, meta);
    },
    debug: (message, meta) => {
      if (enabled('DEBUG')) inner.debug(message, meta);
    },
    info: (message, meta) => {
      if (enabled('INFO')) inner.info(message, meta);
    },
    warn: (message, meta) => {
      if (enabled('WARN')) inner.warn(message, meta);
    },
    error: (message, meta) => {
      if (enabled('ERROR')) inner.error(message, meta);
    },
  };
  if (inner.flush) gated.flush = inner.flush.bind(inner);
  if (inner.close) gated.close = inner.close.bind(inner);
  return gated;
}

/**
 * Installs the Runtime unless one is alive (a process running several backends in tests shares it). The SDK
 * drops an idle Runtime when its last worker and connection are gone, so the next start installs again.
 */
export function installRuntime(logger: Logger): void {
  let runtime: Runtime;
  try {
    runtime = Runtime.install(runtimeOptions(logger));
  } catch (err) {
    if ((err as Error).name !== 'IllegalStateError') throw err;
    return;
  }
  // Workers compose their loggers (worker, activity context, workflow log sink) from runtime.logger at
  // Worker.create, which comes after this. The SDK documents setting Runtime.logger to redirect logs (activity
  // Context.log); it is typed readonly in 1.24 but is a plain field.
  (runtime as { logger: TemporalLogger }).logger = levelGate(runtime.logger, logger);
}
