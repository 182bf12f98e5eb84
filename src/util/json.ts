// Type guards for values that came from outside the process (JSON from a broker, IPC from another process).
// A leaf module: anything may import it, it imports nothing.

/** A plain JSON object (not null, not an array). */
export const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** An array of strings. */
export const isStrArr = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
