// BackendClient for Temporal: a task or registry workflow is started as the workflow of its name with the
// arguments (args, kwargs); its result is the workflow's result, and a failure becomes an Error named after the
// remote ApplicationFailure type — the same shape a Python temporalio caller sees.
import { randomUUID } from 'node:crypto';
import {
  ApplicationFailure,
  CancelledFailure,
  Client,
  Connection,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowFailedError,
} from '@temporalio/client';
import type { BackendClient, ResultOptions, SubmitOptions } from '../../client/types.js';
import { BackendUnavailableError, connectionReason } from '../../client/unavailable.js';
import type { WorkerConfig } from '../../config/types.js';
import { remoteError } from '../../tasks/errors.js';
import { connectionSettings } from './connection.js';
import { taskQueues } from './names.js';

/** The Error a caller sees for a failed workflow: the innermost ApplicationFailure's type and message. */
export function failureToError(err: unknown): Error {
  if (!(err instanceof WorkflowFailedError)) return err as Error;
  let cause: unknown = err.cause;
  // Unwrap ActivityFailure/ChildWorkflowFailure wrappers down to the task's own failure.
  while (cause instanceof Error && !(cause instanceof ApplicationFailure) && cause.cause instanceof Error) {
    cause = cause.cause;
  }
  if (cause instanceof ApplicationFailure) return remoteError(cause.type ?? 'Exception', cause.message, cause.stack);
  if (cause instanceof TimeoutFailure) return remoteError('TimeoutError', cause.message);
  if (cause instanceof CancelledFailure) return remoteError('CancelledError', cause.message);
  if (cause instanceof TerminatedFailure) return remoteError('Terminated', cause.message);
  return remoteError('Exception', cause instanceof Error ? cause.message : err.message);
}

class TemporalClient implements BackendClient {
  #client: Promise<Client> | undefined;

  constructor(private readonly config: WorkerConfig) {}

  #get(): Promise<Client> {
    this.#client ??= (async () => {
      const { address, tls, apiKey } = connectionSettings(this.config.temporal);
      const connection = await Connection.connect({ address, tls, ...(apiKey ? { apiKey } : {}) }).catch(
        (e: unknown) => {
          // The SDK retries the connect itself until its deadline; what it left is one reason, named with the address.
          throw new BackendUnavailableError('the Temporal server', address, connectionReason(e), 1, 'temporal.address');
        },
      );
      return new Client({ connection, namespace: this.config.temporal.namespace });
    })();
    return this.#client;
  }

  async submit(name: string, opts: SubmitOptions): Promise<{ id: string }> {
    const client = await this.#get();
    const id = `${name}-${randomUUID()}`;
    await client.workflow.start(name, {
      workflowId: id,
      taskQueue: opts.queue ?? (taskQueues(this.config)[0] as string),
      args: [opts.args ?? [], opts.kwargs ?? {}],
      ...(opts.countdownMs ? { startDelay: opts.countdownMs } : {}),
    });
    return { id };
  }

  async result(id: string, opts: ResultOptions = {}): Promise<unknown> {
    const client = await this.#get();
    const handle = client.workflow.getHandle(id);
    if (opts.timeoutMs === undefined)
      return handle.result().catch((err: unknown) => Promise.reject(failureToError(err)));
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), opts.timeoutMs);
    try {
      return await client.withAbortSignal(ac.signal, () => handle.result());
    } catch (err) {
      if (ac.signal.aborted) throw remoteError('TimeoutError', `no result for ${id} within ${opts.timeoutMs} ms`);
      throw failureToError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    const pending = this.#client;
    this.#client = undefined;
    if (pending) await (await pending.catch(() => undefined))?.connection.close();
  }
}

export function createClient(config: WorkerConfig): BackendClient {
  return new TemporalClient(config);
}
