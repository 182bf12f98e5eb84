// Every backend's parts, by name: its child entry, its pool extension, default queues, settings rules and health
// hints. Pure: imports no SDK and no broker client; the pool extension loads lazily (import()) when the CLI picks
// it. The CLI/ops layer chooses from here; the supervisor only ever sees a worker entry path and extensions.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, settingName, sourceNote } from '../config/errors.js';
import type { CreateClient } from '../client/types.js';
import type { ConfigKey } from '../config/table-types.js';
import type { BackendName, WorkerConfig } from '../config/types.js';
import { EXIT } from '../exit-codes.js';
import type { PoolExtension } from '../supervisor/api.js';
import { parseTablePairs } from './celery/results/database-sql.js';
import { parseToken } from './hatchet/connection.js';

export interface SettingsCheckOptions {
  /** False for commands that never connect (config, list-tasks, dev): credentials may be missing then. */
  requireCredentials: boolean;
}

export interface BackendEntry {
  readonly name: BackendName;
  /** The compiled child entry, relative to the package root. */
  readonly entry: string;
  /** Queues consumed when -Q is not given. */
  defaultQueues(config: WorkerConfig): string[];
  /** Rules only this backend has; throws ConfigError naming the setting and where it came from. */
  checkSettings(config: WorkerConfig, sources: Record<ConfigKey, string>, o: SettingsCheckOptions): void;
  /**
   * A ready child that has not polled its broker/server for this long counts as stalled (/healthz, systemd
   * watchdog). Temporal and Hatchet long-poll for up to a minute, so they get more room.
   */
  readonly stallMs: number;
  /** The pool-side half of the backend (loaded only when chosen), or none. */
  poolExtension?(config: WorkerConfig): Promise<PoolExtension>;
  /** Its client (submit, result), loaded only when chosen: a Celery client never loads an SDK. */
  client(): Promise<CreateClient>;
}

function checkTemporal(config: WorkerConfig, sources: Record<ConfigKey, string>): void {
  const { clientCertPath: cert, clientKeyPath: key } = config.temporal.tls;
  if ((cert === null) === (key === null)) return;
  const missing: ConfigKey = cert === null ? 'temporal.tls.clientCertPath' : 'temporal.tls.clientKeyPath';
  const other: ConfigKey = cert === null ? 'temporal.tls.clientKeyPath' : 'temporal.tls.clientCertPath';
  throw new ConfigError({
    setting: missing,
    source: sources[missing],
    value: null,
    accepted: `it together with ${settingName(other, sources[other])}${sourceNote(other, sources[other])}`,
  });
}

/** CELERY_DATABASE_TABLE_NAMES / _SCHEMAS are `task=<name>,group=<name>`. */
function checkDatabaseTables(config: WorkerConfig, sources: Record<ConfigKey, string>): void {
  for (const key of ['celery.databaseTableNames', 'celery.databaseTableSchemas'] as const) {
    const items =
      key === 'celery.databaseTableNames' ? config.celery.databaseTableNames : config.celery.databaseTableSchemas;
    try {
      parseTablePairs(items ?? [], settingName(key, sources[key]));
    } catch {
      throw new ConfigError({
        setting: key,
        source: sources[key],
        value: (items ?? []).join(','),
        accepted: 'task=<name>,group=<name> (either may be left out)',
      });
    }
  }
}

function checkHatchet(config: WorkerConfig, sources: Record<ConfigKey, string>, o: SettingsCheckOptions): void {
  if (!o.requireCredentials || config.backend !== 'hatchet') return;
  const token = config.hatchet.token;
  if (token === null) {
    throw new ConfigError({
      setting: 'hatchet.token',
      source: sources['hatchet.token'],
      value: null,
      exitCode: EXIT.CONFIG,
      accepted: 'an API token: the hatchet backend needs one',
    });
  }
  // The token's shape and expiry are checked before any child starts (exit 78, never the token itself); whether
  // the server accepts it is the child's BootError. parseToken is pure: no SDK is loaded.
  try {
    parseToken(token);
  } catch (e) {
    throw new ConfigError({
      setting: 'hatchet.token',
      source: sources['hatchet.token'],
      value: '***',
      exitCode: EXIT.CONFIG,
      accepted: `a valid Hatchet API token (${e instanceof Error ? e.message : String(e)})`,
    });
  }
}

/**
 * Celery rules across settings: rpc:// results travel on a RabbitMQ broker; quorum queues have no priorities;
 * the database store's table pairs.
 */
function checkCelery(config: WorkerConfig, sources: Record<ConfigKey, string>): void {
  checkDatabaseTables(config, sources);
  const c = config.celery;
  const amqpBroker = /^(amqps?|pyamqp):/i.test(c.brokerUrl);
  if (c.resultBackend !== null && /^rpc:/i.test(c.resultBackend) && !amqpBroker) {
    throw new ConfigError({
      setting: 'celery.resultBackend',
      source: sources['celery.resultBackend'],
      value: c.resultBackend,
      accepted: `a Redis or db+postgresql URL, or none: rpc:// needs a RabbitMQ ${settingName('celery.brokerUrl', sources['celery.brokerUrl'])} (amqp://...)${sourceNote('celery.brokerUrl', sources['celery.brokerUrl'])}`,
    });
  }
  if (c.queueMaxPriority !== null && c.queueType === 'quorum') {
    throw new ConfigError({
      setting: 'celery.queueMaxPriority',
      source: sources['celery.queueMaxPriority'],
      value: String(c.queueMaxPriority),
      accepted: `none with quorum queues (${settingName('celery.queueType', sources['celery.queueType'])}${sourceNote('celery.queueType', sources['celery.queueType'])}): RabbitMQ quorum queues have no priorities`,
    });
  }
}

export const BACKEND_REGISTRY: Readonly<Record<BackendName, BackendEntry>> = {
  celery: {
    name: 'celery',
    entry: 'dist/workers/celery.js',
    defaultQueues: () => ['celery'],
    checkSettings: checkCelery,
    stallMs: 30_000,
    async poolExtension(config) {
      return (await import('./celery/extension.js')).celeryPoolExtension(config);
    },
    client: async () => (await import('./celery/client.js')).createClient,
  },
  temporal: {
    name: 'temporal',
    entry: 'dist/workers/temporal.js',
    defaultQueues: (config) => [config.temporal.taskQueue],
    checkSettings: checkTemporal,
    stallMs: 90_000,
    client: async () => (await import('./temporal/client.js')).createClient,
  },
  hatchet: {
    name: 'hatchet',
    entry: 'dist/workers/hatchet.js',
    defaultQueues: () => ['default'],
    checkSettings: checkHatchet,
    stallMs: 90_000,
    client: async () => (await import('./hatchet/client.js')).createClient,
  },
};

export function backendEntry(name: BackendName): BackendEntry {
  return BACKEND_REGISTRY[name];
}

/**
 * Every backend's settings rules that apply to this config: the Temporal TLS pair holds whatever the backend (a
 * half-configured pair is a mistake to report early), the Hatchet token only when hatchet runs.
 */
export function checkBackendSettings(
  config: WorkerConfig,
  sources: Record<ConfigKey, string>,
  o: SettingsCheckOptions,
): void {
  for (const entry of Object.values(BACKEND_REGISTRY)) entry.checkSettings(config, sources, o);
}

/** The package root: the nearest directory above this module holding package.json (works from src/ and dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dir;
}

/** The child entry to fork for `backend` (env TBW_WORKER_ENTRY overrides it: tests only). */
export function workerEntryPath(backend: BackendName, env: NodeJS.ProcessEnv = process.env): string {
  return env.TBW_WORKER_ENTRY || join(packageRoot(), backendEntry(backend).entry);
}

/** The queues a pool of this config consumes: -Q, else the backend's default. */
export function queuesOf(config: WorkerConfig, backend: BackendName = config.backend): string[] {
  return config.queues && config.queues.length > 0 ? config.queues : backendEntry(backend).defaultQueues(config);
}
