// The Temporal Runtime of a child: SDK and Core logs go through the child's pino logger (so they carry the
// child's tags), and NO signal handlers — the supervisor owns signals and talks to the child over IPC.
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import type { LogLevel as TemporalLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { Logger } from 'pino';

const TO_PINO = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** Adapts pino to the SDK's Logger interface; the SDK's `error` meta key becomes pino's `err`. */
export function sdkLogger(logger: Logger): TemporalLogger {
  const log = (level: TemporalLevel, message: string, meta?: LogMetadata): void => {
    const { error, ...rest } = (meta ?? {}) as LogMetadata & { error?: unknown };
    logger[TO_PINO[level]](error === undefined ? rest : { ...rest, err: error }, message);
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

/**
 * Installs the Runtime unless one is alive (a process running several backends in tests shares it). The SDK
 * drops an idle Runtime when its last worker and connection are gone, so the next start installs again.
 */
export function installRuntime(logger: Logger): void {
  try {
    Runtime.install(runtimeOptions(logger));
  } catch (err) {
    if ((err as Error).name !== 'IllegalStateError') throw err;
  }
}
