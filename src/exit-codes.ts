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

/** Codes a CHILD exits with, read by the supervisor. Every one has its operator hint in CHILD_EXIT_HINTS. */
export const CHILD_EXIT = {
  OK: 0,
  /** An uncaught error, or a backend's worker died after start (ctx.fail without a code). */
  CRASH: 1,
  /** The child can never start with this configuration: do not retry. */
  BOOT_ERROR: 3,
  /** A task ignored its hard time limit: the child replaces itself (EX_SOFTWARE). */
  HARD_TIME_LIMIT: 70,
  /** Could not reach the broker/server at start: retry with backoff (EX_TEMPFAIL). */
  RETRYABLE_BOOT: 75,
} as const;

export type ChildExitCode = (typeof CHILD_EXIT)[keyof typeof CHILD_EXIT];

/** ONE table: what each child exit code tells an operator (the supervisor's exit log line carries it as `hint`). */
export const CHILD_EXIT_HINTS: Readonly<Record<ChildExitCode, string>> = {
  [CHILD_EXIT.OK]: 'clean exit',
  [CHILD_EXIT.CRASH]: 'uncaught error: see the child log lines just before',
  [CHILD_EXIT.BOOT_ERROR]: 'cannot boot with this configuration (see the fatal line before): not retried',
  [CHILD_EXIT.HARD_TIME_LIMIT]:
    'a task ignored its hard time limit: the child replaced itself and gave its other tasks back to the broker',
  [CHILD_EXIT.RETRYABLE_BOOT]: 'broker/server unreachable at start: retried with backoff',
};

/** The hint for a child's exit code; codes outside the table get a generic line naming the code. */
export function childExitHint(code: number | null): string | undefined {
  if (code === null) return undefined;
  return CHILD_EXIT_HINTS[code as ChildExitCode] ?? `exit code ${code}: not one of the child exit codes`;
}
