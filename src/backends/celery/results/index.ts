// Result backend URL scheme → result store part. A new store (database, rpc) is a new file in this directory plus
// one line here; its module loads only when its scheme is used.
import type { Logger } from 'pino';
import type { ResultStore } from '../results.js';
import { SchemeTable, type SchemePart } from '../schemes.js';
import type { Transport } from '../transport.js';
import { redisUrlProblem } from '../transports/redis-url.js';
import type { CeleryConfig } from '../../../config/types.js';
import type { DatabaseSettings } from './database-open.js';
import { DEFAULT_LAYOUT, parseTablePairs } from './database-sql.js';
import { databaseUrlProblem } from './database-url.js';

export interface ResultStoreOptions {
  logger: Logger;
  /** Result expiry, seconds (Celery's result_expires); 0 = never. */
  expiresS: number;
  connectTimeoutMs: number;
  /** The broker, when this process has one open: a store on the same server may share its connection. */
  broker: { url: string; transport: Transport } | null;
  /** The database store's settings (pool size, table names and schemas, result_extended); defaults when absent. */
  database?: DatabaseSettings;
}

type Opener = (url: string, o: ResultStoreOptions) => Promise<ResultStore>;

const redis: SchemePart<Opener> = {
  problem: redisUrlProblem,
  open: async () => (await import('./redis-open.js')).openRedisResults,
};

const database: SchemePart<Opener> = {
  problem: databaseUrlProblem,
  open: async () => (await import('./database-open.js')).openDatabaseResults,
};

const STORES = new SchemeTable<Opener>({
  'redis:': redis,
  'rediss:': redis,
  'db+postgresql:': database,
  'db+postgresql+psycopg2:': database,
  'db+postgresql+psycopg:': database,
});

/** Why `url` cannot be a result backend URL here, or null. */
export function resultStoreProblem(url: string): string | null {
  return STORES.problem(url);
}

export async function openResultStore(url: string, o: ResultStoreOptions): Promise<ResultStore> {
  return (await STORES.load(url, 'result backend URL'))(url, o);
}

/** The database store's settings from the Celery config (table pairs were checked when the config compiled). */
export function databaseSettings(cfg: CeleryConfig): DatabaseSettings {
  const names = parseTablePairs(cfg.databaseTableNames ?? [], 'CELERY_DATABASE_TABLE_NAMES');
  const schemas = parseTablePairs(cfg.databaseTableSchemas ?? [], 'CELERY_DATABASE_TABLE_SCHEMAS');
  return {
    poolSize: cfg.databasePoolSize ?? 4,
    extended: cfg.resultExtended,
    format: cfg.databasePickleResults === true ? 'pickle' : 'json',
    layout: {
      names: { ...DEFAULT_LAYOUT.names, ...names },
      schemas: { task: schemas.task ?? null, group: schemas.group ?? null },
    },
  };
}
