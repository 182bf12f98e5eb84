// What the workflow does after one activity attempt of a task failed: retry it as the task's policy says, run it
// again after a lost worker (not a retry: the attempt number stays), or fail the workflow. Pure and deterministic
// (the workflow bundle imports it: no Node APIs); workflows.ts turns Temporal failures into AttemptFailure.

/** The activity's third argument: what the task's ctx reports for this run. */
export interface RunInfo {
  attempt: number;
  redelivered: boolean;
}

/** One failed activity attempt, as the workflow classifies it. */
export type AttemptFailure =
  /** No result and no heartbeat in time: the child died (killed, out of memory, heap limit) or hung. */
  | { kind: 'lost'; reason: string }
  /** A cold stop gave the attempt back (WorkerShutdown): it runs again elsewhere; the worker was not lost. */
  | { kind: 'handedBack' }
  /** The task's own failure; `countdownMs` is the delay a RetryTask asked for. */
  | { kind: 'failed'; retryable: boolean; countdownMs: number | undefined }
  /** Anything else (cancellation, termination): the workflow rethrows it unchanged. */
  | { kind: 'other' };

export interface AttemptPolicy {
  retries: number;
  retryBackoff: { initialMs: number; factor: number; maxMs: number };
  /** How many times a task whose worker was lost runs again; the next loss fails it with WorkerLostError. */
  deliveryLimit: number;
}

export interface AttemptState {
  /** ctx.attempt of the next run: 1 + the retries the task was given. */
  attempt: number;
  /** Lost workers so far (hand-backs by a cold stop are not counted). */
  lost: number;
  redelivered: boolean;
}

export type Decision =
  { kind: 'run'; state: AttemptState; delayMs: number } | { kind: 'workerLost'; message: string } | { kind: 'rethrow' };

export const FIRST_RUN: AttemptState = { attempt: 1, lost: 0, redelivered: false };

/** Delay before retry number `retry` (1 = first): initialMs * factor^(retry-1), capped at maxMs (src/tasks). */
export function backoffMs(backoff: AttemptPolicy['retryBackoff'], retry: number): number {
  return Math.max(0, Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** Math.max(0, retry - 1)));
}

export function decide(task: string, failure: AttemptFailure, state: AttemptState, policy: AttemptPolicy): Decision {
  switch (failure.kind) {
    case 'lost': {
      const lost = state.lost + 1;
      if (lost > policy.deliveryLimit) {
        const times = lost === 1 ? 'once' : `${lost} times`;
        return {
          kind: 'workerLost',
          message:
            `worker lost while running ${task} (${failure.reason}), ${times}; ` +
            `the delivery limit is ${policy.deliveryLimit}`,
        };
      }
      return { kind: 'run', state: { ...state, lost, redelivered: true }, delayMs: 0 };
    }
    case 'handedBack':
      return { kind: 'run', state: { ...state, redelivered: true }, delayMs: 0 };
    case 'failed':
      if (!failure.retryable || state.attempt > policy.retries) return { kind: 'rethrow' };
      return {
        kind: 'run',
        state: { ...state, attempt: state.attempt + 1, redelivered: false },
        delayMs: failure.countdownMs ?? backoffMs(policy.retryBackoff, state.attempt),
      };
    default:
      return { kind: 'rethrow' };
  }
}
