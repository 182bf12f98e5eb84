// BackendClient for Hatchet: runs a task or workflow by name with input {args, kwargs} and reads its result back,
// turning a failure ("Type: message", see plan.ts) into an Error whose name is the remote exception type.
import { randomUUID } from 'node:crypto';
import type { HatchetClient, JsonObject } from '@hatchet-dev/typescript-sdk/v1/index.js';
import type { BackendClient, ResultOptions, SubmitOptions } from '../../client/types.js';
import { BackendUnavailableError } from '../../client/unavailable.js';
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
  const texts = Array.isArray(reason)
    ? reason.map(String)
    : [reason instanceof Error ? reason.message : String(reason)];
  const { type, message } = parseFailure(texts[0] ?? 'unknown failure');
  return remoteError(type, message);
}

const SCHEDULED_PREFIX = 'scheduled:';
const SCHEDULE_POLL_MS = 200;
const RESULT_POLL_MS = 1000;
const MARKER_KEY = 'tbw_submit_id';

/**
 * The SDK has no close(): its pooled run listener keeps a gRPC stream (and so the process) alive, and restarts it
 * from a `finally` even after an abort. Disarm the restart, then abort, through the SDK's internals; unknown shapes
 * (another SDK version) are left alone.
 */
export function closeStreams(hatchet: HatchetClient | null): void {
  type Pooled = { signal?: AbortController; init?: () => Promise<void> };
  const holder = (hatchet as unknown as { _listener?: { pooledListener?: Pooled } } | null)?._listener;
  const pooled = holder?.pooledListener;
  if (!pooled?.signal) return;
  pooled.init = async () => undefined;
  pooled.signal.abort();
  if (holder) holder.pooledListener = undefined;
}

const quiet = (): void => undefined;
const SILENT = { debug: quiet, info: quiet, green: quiet, warn: quiet, error: quiet, util: quiet };

class HatchetBackendClient implements BackendClient {
  #hatchet: Promise<HatchetClient> | null = null;

  constructor(private readonly config: WorkerConfig) {}

  #client(): Promise<HatchetClient> {
    this.#hatchet ??= (async () => {
      const settings = clientSettings(this.config.hatchet);
      const sdk = await loadSdk();
      this.#hostPort = settings.host_port;
      // A silent logger: the SDK would print its own ERROR line for each retry (its 'OFF' level lets everything
      // through), and every failure reaches the caller as an error anyway.
      return sdk.HatchetClient.init({ ...settings, log_level: 'ERROR', logger: () => SILENT });
    })();
    return this.#hatchet;
  }

  #hostPort = '';

  /** A gRPC UNAVAILABLE (engine down or unreachable) as the client's one "cannot reach" error. */
  #unavailable(e: unknown): unknown {
    const text = e instanceof Error ? e.message : String(e);
    if ((e as { code?: unknown })?.code !== 14 && !/\bUNAVAILABLE\b/.test(text)) return e;
    const reason = /connect (E[A-Z]+)/.exec(text)?.[1] ?? 'UNAVAILABLE';
    // The address is HATCHET_CLIENT_HOST_PORT's, or else the token's.
    const setting = this.config.hatchet.hostPort !== null ? 'hatchet.hostPort' : 'hatchet.token';
    return new BackendUnavailableError('the Hatchet engine', this.#hostPort, reason, 1, setting);
  }

  async submit(name: string, opts: SubmitOptions): Promise<{ id: string }> {
    try {
      return await this.#submit(name, opts);
    } catch (e) {
      throw this.#unavailable(e);
    }
  }

  async #submit(name: string, opts: SubmitOptions): Promise<{ id: string }> {
    const hatchet = await this.#client();
    // Arguments must be JSON to cross the wire; the SDK serialises them as such.
    const input = { args: opts.args ?? [], kwargs: opts.kwargs ?? {} } as unknown as JsonObject;
    if (opts.countdownMs !== undefined && opts.countdownMs > 0) {
      // A delayed run is a Hatchet scheduled run. Its run id exists only once it fires (and the schedule is then
      // deleted), so the id carries a marker that the fired run inherits as additional metadata.
      const marker = randomUUID();
      const since = Date.now();
      await hatchet.scheduled.create(name, {
        triggerAt: new Date(since + opts.countdownMs),
        input,
        additionalMetadata: { [MARKER_KEY]: marker },
      });
      return { id: `${SCHEDULED_PREFIX}${marker}:${since}` };
    }
    const ref = await hatchet.runNoWait(name, input);
    return { id: await ref.getWorkflowRunId() };
  }

  /** The run a scheduled id turned into, polled until it fires (or the deadline passes). */
  async #scheduledRunId(hatchet: HatchetClient, id: string, deadline: number): Promise<string> {
    const [marker, since] = id.slice(SCHEDULED_PREFIX.length).split(':');
    for (;;) {
      const runs = await hatchet.runs.list({
        since: new Date(Number(since) - 60_000),
        additionalMetadata: { [MARKER_KEY]: marker ?? '' },
        onlyTasks: false,
        limit: 1,
      });
      const run = runs.rows[0];
      if (run) return run.workflowRunExternalId || run.metadata.id;
      if (Date.now() >= deadline) throw remoteError('TimeoutError', `scheduled hatchet run ${marker} has not started`);
      await new Promise((r) => setTimeout(r, SCHEDULE_POLL_MS));
    }
  }

  async result(id: string, opts: ResultOptions = {}): Promise<unknown> {
    const hatchet = await this.#client();
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
    const runId = id.startsWith(SCHEDULED_PREFIX) ? await this.#scheduledRunId(hatchet, id, deadline) : id;
    const settled = { done: false };
    const streamed = hatchet.runRef(runId).output.then(runResult, (e: unknown) => Promise.reject(runFailure(e)));
    // The event stream can miss a run that finished before the subscription took hold (seen right after an
    // engine start); a slow REST poll settles those.
    const output = Promise.race([streamed, this.#poll(hatchet, runId, settled)]);
    streamed.catch(() => undefined);
    void output.finally(() => (settled.done = true)).catch(() => undefined);
    if (deadline === Infinity) return output;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(remoteError('TimeoutError', `no result for hatchet run ${id} within ${opts.timeoutMs} ms`)),
        Math.max(0, deadline - Date.now()),
      );
    });
    output.catch(() => undefined);
    try {
      return await Promise.race([output, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #poll(hatchet: HatchetClient, runId: string, settled: { done: boolean }): Promise<unknown> {
    for (;;) {
      await new Promise((r) => setTimeout(r, RESULT_POLL_MS));
      if (settled.done) return new Promise<never>(() => undefined);
      const details = await hatchet.runs.get(runId).catch(() => null);
      const status = details?.run.status;
      if (!details || status === undefined) continue;
      if (status === 'COMPLETED') return runResult(details.run.output);
      if (status === 'FAILED' || status === 'CANCELLED') {
        // The failed task carries the real error; downstream tasks are only cancelled because of it.
        const failed =
          details.tasks.find((x) => x.status === 'FAILED' && x.errorMessage) ??
          details.tasks.find((x) => x.errorMessage);
        throw runFailure(failed?.errorMessage || details.run.errorMessage || `run ${status.toLowerCase()}`);
      }
    }
  }

  async close(): Promise<void> {
    const pending = this.#hatchet;
    this.#hatchet = null;
    if (pending) closeStreams(await pending.catch(() => null));
  }
}

export function createClient(config: WorkerConfig): BackendClient {
  return new HatchetBackendClient(config);
}
