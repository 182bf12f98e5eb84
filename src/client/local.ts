// An in-process BackendClient: runs submitted work right here with the reference executor. For unit tests of
// user tasks and for proving the conformance suite; failures cross the same "wire" shape as a real backend
// (an Error whose name is the exception type), so assertions carry over unchanged.
import { randomUUID } from 'node:crypto';
import { errorMessage, errorType, remoteError } from '../tasks/errors.js';
import { runByName, type RunOptions } from '../tasks/local-runner.js';
import type { Registry } from '../tasks/registry.js';
import type { BackendClient, ResultOptions, SubmitOptions } from './types.js';

type Outcome = { ok: true; value: unknown } | { ok: false; error: Error };

export function createLocalClient(registry: Registry, opts: Omit<RunOptions, 'taskId' | 'signal'> = {}): BackendClient {
  const stop = new AbortController();
  const runs = new Map<string, Promise<Outcome>>();

  // Ends early when the client closes; the run then fails at once with the abort reason.
  const delay = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        stop.signal.removeEventListener('abort', done);
        resolve();
      }
      stop.signal.addEventListener('abort', done, { once: true });
    });

  const execute = async (id: string, name: string, s: SubmitOptions): Promise<Outcome> => {
    if (s.countdownMs !== undefined && s.countdownMs > 0) await delay(s.countdownMs);
    try {
      const value = await runByName(registry, name, s.args ?? [], s.kwargs ?? {}, {
        ...opts,
        taskId: id,
        signal: stop.signal,
      });
      // A real backend stores JSON: round-trip so callers never see values a wire could not carry.
      return { ok: true, value: value === undefined ? null : (JSON.parse(JSON.stringify(value)) as unknown) };
    } catch (err) {
      return { ok: false, error: remoteError(errorType(err), errorMessage(err)) };
    }
  };

  return {
    submit(name: string, s: SubmitOptions): Promise<{ id: string }> {
      if (stop.signal.aborted) return Promise.reject(new Error('client is closed'));
      const id = randomUUID();
      runs.set(id, execute(id, name, s));
      return Promise.resolve({ id });
    },

    async result(id: string, r: ResultOptions = {}): Promise<unknown> {
      const run = runs.get(id);
      if (!run) throw remoteError('KeyError', `no task with id ${id}`);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<Outcome>((resolve) => {
        if (r.timeoutMs === undefined) return;
        timer = setTimeout(
          () =>
            resolve({
              ok: false,
              error: remoteError('TimeoutError', `result of ${id} not ready after ${r.timeoutMs} ms`),
            }),
          r.timeoutMs,
        );
      });
      try {
        const outcome = await Promise.race([run, timeout]);
        if (outcome.ok) return outcome.value;
        throw outcome.error;
      } finally {
        clearTimeout(timer);
      }
    },

    async close(): Promise<void> {
      stop.abort(remoteError('WorkerShutdown', 'client closed'));
      await Promise.allSettled(runs.values());
    },
  };
}
