// The built-in tasks: the same names and results as the original Python registry, so existing Python callers
// keep working unchanged. Arguments bind like a Python call (params.ts); values render like Python (pyfmt.ts).
import { defineTask } from './define.js';
import { bind, type Signature } from './params.js';
import { pyAdd, pyStr } from './pyfmt.js';
import { TaskError, type TaskDefinition } from './types.js';

/** Resolves after ms, or rejects with the signal's reason as soon as it aborts (time limit, cold stop, revoke). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

const sig = (name: string, params: Signature['params']): Signature => ({ name, params });

const ADD = sig('add_numbers', [{ name: 'a' }, { name: 'b' }]);
export const addNumbers = defineTask({
  name: 'add_numbers',
  description: 'add_numbers(a, b) → a + b (Python +: numbers add, strings and lists concatenate)',
  run(args, kwargs, ctx) {
    const { a, b } = bind(args, kwargs, ADD);
    ctx.logger.debug({ a, b }, 'add_numbers');
    return pyAdd(a, b);
  },
});

const CONCAT = sig('concat_with_number', [{ name: 'base_string' }, { name: 'number' }]);
export const concatWithNumber = defineTask({
  name: 'concat_with_number',
  description: 'concat_with_number(base_string, number) → "<base_string><number>"',
  run(args, kwargs) {
    const { base_string, number } = bind(args, kwargs, CONCAT);
    return `${pyStr(base_string)}${pyStr(number)}`;
  },
});

const FORMAT = sig('format_result_message', [{ name: 'number' }]);
export const formatResultMessage = defineTask({
  name: 'format_result_message',
  description: 'format_result_message(number) → "Result is <number>" (chain-friendly: takes the previous result)',
  run(args, kwargs) {
    const { number } = bind(args, kwargs, FORMAT);
    return `Result is ${pyStr(number)}`;
  },
});

const HEALTH = sig('health_check', []);
export const healthCheck = defineTask({
  name: 'health_check',
  description: 'health_check() → {status: "healthy", timestamp, worker, message}',
  run(args, kwargs, ctx) {
    bind(args, kwargs, HEALTH);
    return {
      status: 'healthy',
      timestamp: Date.now() / 1000,
      worker: ctx.workerName,
      message: 'Worker is operational',
    };
  },
});

const ECHO = sig('echo', [{ name: 'message' }]);
export const echo = defineTask({
  name: 'echo',
  description: 'echo(message) → "Echo: <message>"',
  run(args, kwargs) {
    const { message } = bind(args, kwargs, ECHO);
    return `Echo: ${pyStr(message)}`;
  },
});

const SIMULATE = sig('simulate_work', [{ name: 'duration', default: 1, type: 'number' }]);
export const simulateWork = defineTask({
  name: 'simulate_work',
  description: 'simulate_work(duration=1) → waits duration seconds (abortable), returns timings',
  async run(args, kwargs, ctx) {
    const { duration } = bind(args, kwargs, SIMULATE) as { duration: number };
    if (duration < 0) throw new TaskError('sleep length must be non-negative', 'ValueError', false);
    const start = Date.now();
    await abortableSleep(duration * 1000, ctx.signal);
    const end = Date.now();
    return {
      requested_duration: duration,
      actual_duration: (end - start) / 1000,
      // Epoch seconds, as the Python original (time.time()); the ISO forms are for humans.
      start_time: start / 1000,
      end_time: end / 1000,
      started_at: new Date(start).toISOString(),
      ended_at: new Date(end).toISOString(),
      status: 'completed',
    };
  },
});

const PROCESS = sig('process_data', [
  { name: 'data', type: 'dict' },
  { name: 'operation', default: 'validate' },
]);
export const processData = defineTask({
  name: 'process_data',
  description: 'process_data(data, operation="validate") → data with the result of validate | transform | count',
  run(args, kwargs) {
    const { data, operation } = bind(args, kwargs, PROCESS) as { data: Record<string, unknown>; operation: unknown };
    const out: Record<string, unknown> = {
      original: data,
      operation,
      processed_at: Date.now() / 1000,
      status: 'completed',
    };
    // An unknown operation adds nothing, as in the original.
    if (operation === 'validate') out.valid = Object.keys(data).length > 0;
    else if (operation === 'transform') {
      out.transformed = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, pyStr(v).toUpperCase()]));
    } else if (operation === 'count') out.count = Object.keys(data).length;
    return out;
  },
});

export const BUILTIN_TASKS: readonly TaskDefinition[] = [
  healthCheck,
  echo,
  addNumbers,
  processData,
  simulateWork,
  concatWithNumber,
  formatResultMessage,
];
