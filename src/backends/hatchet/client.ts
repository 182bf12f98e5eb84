// BackendClient for Hatchet: runs a task or workflow by name with input {args, kwargs} and reads its result back,
// turning a failure ("Type: message", see plan.ts) into an Error whose name is the remote exception type.
import type { HatchetClient, JsonObject } from '@hatchet-dev/typescript-sdk/v1/index.js';
import type { BackendClient, ResultOptions, SubmitOptions } from '../../client/types.js';
import type { WorkerConfig } from '../../config/types.js';
import { remoteError } from '../../tasks/errors.js';
import { clientSettings } from './connection.js';
import { RESULT_NODE, decodeOutput, parseFailure } from './plan.js';

type Sdk = typeof import('@hatchet-dev/typescript-sdk/v1/index.js');

async function loadSdk(): Promise<Sdk> {
  const mod = (await import('@hatchet-dev/typescript-sdk/v1/index.js')) as Sdk & { default?: Sdk };
  return mod.default ?? mod;
}

/** The result of a run from its per-task outputs: the RESULT_NODE of a workflow, else the one task's output. */
export function runResult(outputs: unknown): unknown {
  if (typeof outputs !== 'object' || outputs === null || Array.isArray(outputs)) return decodeOutput(outputs);
  const map = outputs as Record<string, unknown>;
  if (RESULT_NODE in map) return decodeOutput(map[RESULT_NODE]);
  if ('result' in map) return decodeOutput(map);
  const keys = Object.keys(map);
  if (keys.length === 1) return decodeOutput(map[keys[0] as string]);
  return map;
}

/** The Error a failed run rejects with; the SDK rejects with a list of per-task error texts or an Error. */
export function runFailure(reason: unknown): Error {
  const texts = Array.isArray(reason) ? reason.map(String) : [reason instanceof Error ? reason.message : String(reason)];
  const { type, message } = parseFailure(texts[0] ?? 'unknown failure');
  return remoteError(type, message);
}

class HatchetBackendClient implements BackendClient {
  #hatchet: Promise<HatchetClient> | null = null;

  constructor(private readonly config: WorkerConfig) {}

  #client(): Promise<HatchetClient> {
    this.#hatchet ??= (async () => {
      const settings = clientSettings(this.config.hatchet);
      const sdk = await loadSdk();
      return sdk.HatchetClient.init({ ...settings, log_level: 'ERROR' });
    })();
    return this.#hatchet;
  }

  async submit(name: string, opts: SubmitOptions): Promise<{ id: string }> {
    if (opts.countdownMs !== undefined && opts.countdownMs > 0) {
      // Hatchet schedules delayed runs as separate "scheduled run" objects without a run id to wait on.
      throw remoteError('NotSupported', 'countdown is not supported by the hatchet client; use a scheduled run');
    }
    const hatchet = await this.#client();
    // Arguments must be JSON to cross the wire; the SDK serialises them as such.
    const input = { args: opts.args ?? [], kwargs: opts.kwargs ?? {} } as unknown as JsonObject;
    const ref = await hatchet.runNoWait(name, input);
    return { id: await ref.getWorkflowRunId() };
  }

  async result(id: string, opts: ResultOptions = {}): Promise<unknown> {
    const hatchet = await this.#client();
    const output = hatchet.runRef(id).output.then(runResult, (e: unknown) => Promise.reject(runFailure(e)));
    if (opts.timeoutMs === undefined) return output;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(remoteError('TimeoutError', `no result for hatchet run ${id} within ${opts.timeoutMs} ms`)),
        opts.timeoutMs,
      );
    });
    output.catch(() => undefined);
    try {
      return await Promise.race([output, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    // The SDK keeps no handle open between calls that we could close; dropping the client is enough.
    this.#hatchet = null;
  }
}

export function createClient(config: WorkerConfig): BackendClient {
  return new HatchetBackendClient(config);
}
