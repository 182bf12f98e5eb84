// Timers for any delay. Node's setTimeout takes at most 2^31-1 ms (~24.8 days) and turns anything longer into
// 1 ms (TimeoutOverflowWarning): a 30-day time limit or ETA would fire at once. These re-arm in steps instead.

/** The longest delay one setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Call `fn` after `ms` (clamped at 0; Infinity = never). Returns the function that cancels it. Delays within
 * setTimeout's range cost one timer, as setTimeout does.
 */
export function setLongTimeout(fn: () => void, ms: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (left: number): void => {
    const step = Math.min(left, MAX_TIMER_MS);
    timer = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fn()), step);
  };
  arm(Number.isNaN(ms) ? 0 : Math.max(0, ms));
  return () => clearTimeout(timer);
}
