// Restart delays for a pool slot: exponential with jitter, capped, and forgotten after a stable period.
// Pure: the caller passes the attempt number and a random value in [0, 1).

export interface BackoffPolicy {
  /**
   * Restarts of a slot that happen at once, before any delay (default 0). Celery and gunicorn replace a dead
   * worker immediately; most crashes are one-offs, so only a repeat of the same slot waits. The pool applies it
   * to crashes of ready children only (boot failures wait from the first retry: see scheduleRestart).
   */
  immediate?: number;
  /** Delay of the first restart that waits, ms. */
  initialMs: number;
  /** Growth per consecutive attempt. */
  factor: number;
  /** Upper bound of one delay, ms. */
  maxMs: number;
  /** Fraction of the delay that is randomised, 0..1 (0.2 → delay × [0.8, 1.2)), so slots do not restart in lockstep. */
  jitter: number;
  /** A child up (ready) at least this long resets its slot's attempt count. */
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  immediate: 1,
  initialMs: 100,
  factor: 2,
  maxMs: 30_000,
  jitter: 0.2,
  stableMs: 60_000,
};

/**
 * Delay before restart number `attempt` (0 = first restart after a crash): 0 for the first `immediate` ones, then
 * initialMs × factor^k with jitter. `random` is a value in [0, 1); the result never exceeds maxMs and is never negative.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: number): number {
  const free = Math.max(0, Math.floor(policy.immediate ?? 0));
  const n = Math.max(0, Math.floor(attempt)) - free;
  if (n < 0) return 0;
  // Exponent capped so huge attempt counts cannot overflow to Infinity/NaN.
  const base = Math.min(policy.maxMs, policy.initialMs * Math.pow(policy.factor, Math.min(n, 64)));
  const spread = base * policy.jitter;
  const jittered = base - spread + 2 * spread * clamp01(random);
  return Math.round(Math.min(policy.maxMs, Math.max(0, jittered)));
}

/** The attempt count to use for the next restart, given how long the child that just exited was up. */
export function nextAttempt(policy: BackoffPolicy, attempts: number, upMs: number | null): number {
  return upMs !== null && upMs >= policy.stableMs ? 0 : attempts;
}

function clamp01(x: number): number {
  if (!Number.isFinite(x) || x < 0) return 0;
  return x >= 1 ? 1 - Number.EPSILON : x;
}

/** A small seeded PRNG (mulberry32) so the reducer stays pure: the seed lives in the state. */
export function mulberry32(seed: number): { value: number; seed: number } {
  const next = (seed + 0x6d2b79f5) | 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { value: ((t ^ (t >>> 14)) >>> 0) / 4294967296, seed: next };
}
