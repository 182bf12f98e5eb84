// The one error a client gives when its broker or server cannot be reached: what (the Celery broker, the Temporal
// server), where (its URL or address, password redacted), why (the error code) and how many attempts were made.
// `submit` prints it as one line and exits 69 (EX_UNAVAILABLE); library callers can catch it by name.

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
  constructor(
    /** e.g. "the Celery broker", "the Temporal server". */
    readonly what: string,
    /** The URL or host:port, secrets redacted. */
    readonly target: string,
    /** The last error's code (ECONNREFUSED, ENOTFOUND, ...) or its first line. */
    readonly reason: string,
    readonly attempts: number,
    /** The setting that names the target (a ConfigKey, e.g. "celery.brokerUrl"), so the CLI can say where it came from. */
    readonly setting?: string,
  ) {
    super(`cannot reach ${what} at ${target} (${reason}${attempts > 1 ? ` after ${attempts} attempts` : ''})`);
  }

  /** The reason as an error code (a worker child's boot failure carries it to the supervisor's log line). */
  get code(): string {
    return this.reason;
  }
}

/** Duck-typed: errors may come from another copy of this package. */
export function isBackendUnavailable(err: unknown): err is BackendUnavailableError {
  return err instanceof Error && err.name === 'BackendUnavailableError';
}

/** A short reason for a connection error: its code when it has one (ECONNREFUSED), else its first line. */
export function connectionReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && code !== '') return code;
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}
