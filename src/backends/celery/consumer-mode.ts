// The consumer's named states and the only moves between them: idle → running (consuming) → draining (no new
// deliveries, finishing) → stopped; stop is legal from anywhere. An illegal move is a bug, so it throws.
export type Mode = 'idle' | 'running' | 'draining' | 'stopped';

const LEGAL: Readonly<Record<Mode, readonly Mode[]>> = {
  idle: ['running', 'stopped'],
  running: ['draining', 'stopped'],
  draining: ['stopped'],
  stopped: [],
};

/** `to` if the move from `from` is legal (or no move at all); throws otherwise. */
export function moveMode(from: Mode, to: Mode): Mode {
  if (to !== from && !LEGAL[from].includes(to)) throw new Error(`celery consumer: illegal transition ${from} → ${to}`);
  return to;
}
