// Exit codes, documented in the README, --help, ecosystem.config.cjs and deploy/task-backend-worker.service.
export const EXIT = {
  /** Clean (warm) shutdown. */
  OK: 0,
  /** Unexpected error in the supervisor itself. */
  FAILURE: 1,
  /** Children cannot boot (a `fatal` before `ready`, or a child exited BOOT_ERROR, K times in a row). Not restarted by pm2/systemd. */
  BOOT_FAILURE: 3,
  /** Gave up: M crashes within the crash window. */
  CRASH_LOOP: 4,
  /** Bad command line (EX_USAGE). */
  USAGE: 64,
  /** `submit` / `status` only: the broker, server or pool cannot be reached (EX_UNAVAILABLE). Never the worker. */
  UNAVAILABLE: 69,
  /** Bad configuration: settings, env file, task modules, missing token (EX_CONFIG). */
  CONFIG: 78,
} as const;

/** Codes a CHILD exits with, read by the supervisor. */
export const CHILD_EXIT = {
  OK: 0,
  /** The child can never start with this configuration: do not retry. */
  BOOT_ERROR: 3,
  /** Could not reach the broker/server at start: retry with backoff (EX_TEMPFAIL). */
  RETRYABLE_BOOT: 75,
} as const;
