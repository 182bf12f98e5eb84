// The backend-agnostic client: submit a task or workflow by name and fetch its result, on whichever backend the
// configuration names. Only the chosen backend's client module (and so its SDK) is ever loaded.
import type { WorkerConfig } from '../config/types.js';
import { UnknownTaskError } from '../tasks/errors.js';
import { loadRegistry } from '../tasks/loader.js';
import type { Registry } from '../tasks/registry.js';
import type { BackendClient, CreateClient } from './types.js';

export type { BackendClient, CreateClient, ResultOptions, SubmitOptions } from './types.js';
export { BackendUnavailableError, isBackendUnavailable } from './unavailable.js';
export { createLocalClient } from './local.js';

/** Caller-facing options, Celery-style units (seconds). */
export interface SubmitParams {
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  /** Default: the task's own queue, else the backend's default queue. */
  queue?: string;
  /** Seconds to wait before the task may run. */
  countdown?: number;
  /** Send even when the local registry does not know the name (the worker may; Celery's send_task never checks). */
  anyName?: boolean;
}

export interface ResultParams {
  /** Seconds to wait for the result; rejects with an Error named "TimeoutError" after that. Default: forever. */
  timeout?: number;
}

export interface ClientDeps {
  /** Create the backend client for config.backend (default: the one src/backends/registry.ts names). */
  createClient: (config: WorkerConfig) => Promise<BackendClient>;
  /** The registry names are checked against (default: loadRegistry over config.taskModules/builtins). */
  loadRegistry: (config: WorkerConfig) => Promise<Registry>;
}

export interface TaskClient {
  submit(name: string, params?: SubmitParams): Promise<{ id: string }>;
  result(id: string, params?: ResultParams): Promise<unknown>;
  /** The local registry used to check names (list-tasks shows the same). */
  registry(): Promise<Registry>;
  close(): Promise<void>;
}

async function importBackendClient(config: WorkerConfig): Promise<BackendClient> {
  const { backendEntry } = await import('../backends/registry.js');
  const create: CreateClient = await backendEntry(config.backend).client();
  return create(config);
}

export const defaultClientDeps: ClientDeps = {
  createClient: importBackendClient,
  loadRegistry: (config) => loadRegistry({ taskModules: config.taskModules, builtins: config.builtins }),
};

function seconds(what: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new TypeError(`${what} must be a number of seconds >= 0`);
  return Math.round(v * 1000);
}

/** A client bound to one configuration; the backend connection is made on first use and reused. */
export function createTaskClient(config: WorkerConfig, deps: Partial<ClientDeps> = {}): TaskClient {
  const d: ClientDeps = { ...defaultClientDeps, ...deps };
  let backend: Promise<BackendClient> | undefined;
  let registry: Promise<Registry> | undefined;
  const getBackend = (): Promise<BackendClient> => (backend ??= d.createClient(config));
  const getRegistry = (): Promise<Registry> => (registry ??= d.loadRegistry(config));

  return {
    registry: getRegistry,

    async submit(name, params = {}) {
      const reg = await getRegistry();
      const def = reg.get(name);
      if (!def && params.anyName !== true) throw new UnknownTaskError(name, reg.names());
      const countdownMs = seconds('countdown', params.countdown);
      const queue = params.queue ?? def?.queue;
      return (await getBackend()).submit(name, {
        args: params.args ?? [],
        kwargs: params.kwargs ?? {},
        ...(queue !== undefined ? { queue } : {}),
        ...(countdownMs !== undefined ? { countdownMs } : {}),
      });
    },

    async result(id, params = {}) {
      const timeoutMs = seconds('timeout', params.timeout);
      return (await getBackend()).result(id, timeoutMs !== undefined ? { timeoutMs } : {});
    },

    async close() {
      const b = backend;
      backend = undefined;
      const client = await b?.catch(() => undefined); // a client that never connected has nothing to close
      if (client) await client.close();
    },
  };
}

// The package-level submit()/result() share one client per distinct configuration.
const shared = new Map<string, TaskClient>();

async function envConfig(): Promise<WorkerConfig> {
  const [{ compileConfig }, { currentHost }] = await Promise.all([
    import('../config/compile.js'),
    import('../config/load.js'),
  ]);
  return compileConfig({ env: process.env, host: currentHost(process.env) });
}

async function sharedClient(config: WorkerConfig | undefined): Promise<TaskClient> {
  const cfg = config ?? (await envConfig());
  const key = JSON.stringify(cfg);
  let c = shared.get(key);
  if (!c) {
    c = createTaskClient(cfg);
    shared.set(key, c);
  }
  return c;
}

export interface ClientScope {
  /** Default: compiled from process.env like the worker (TASK_BACKEND_TYPE, CELERY_BROKER_URL, ...). */
  config?: WorkerConfig;
}

/** Submit a task or workflow by name; refuses names the local registry does not know. */
export async function submit(
  name: string,
  params: SubmitParams = {},
  scope: ClientScope = {},
): Promise<{ id: string }> {
  return (await sharedClient(scope.config)).submit(name, params);
}

/** Wait for a result; rejects with an Error whose name is the remote exception type. */
export async function result(id: string, params: ResultParams = {}, scope: ClientScope = {}): Promise<unknown> {
  return (await sharedClient(scope.config)).result(id, params);
}

/** Close the connections the package-level submit()/result() opened (lets the process exit). */
export async function closeClients(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  await Promise.all(all.map((c) => c.close()));
}
