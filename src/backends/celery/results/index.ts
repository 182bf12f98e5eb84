// Result backend URL scheme → result store part. A new store (database) is a new file in this directory plus
// one line here; its module loads only when its scheme is used.
import type { Logger } from 'pino';
import type { ResultStore } from '../results.js';
import { SchemeTable, type SchemePart } from '../schemes.js';
import type { Transport } from '../transport.js';
import { redisUrlProblem } from '../transports/redis-url.js';

export interface ResultStoreOptions {
  logger: Logger;
  /** Result expiry, seconds (Celery's result_expires); 0 = never. */
  expiresS: number;
  connectTimeoutMs: number;
  /** The broker, when this process has one open: a store on the same server may share its connection. */
  broker: { url: string; transport: Transport } | null;
}

type Opener = (url: string, o: ResultStoreOptions) => Promise<ResultStore>;

const redis: SchemePart<Opener> = {
  problem: redisUrlProblem,
  open: async () => (await import('./redis-open.js')).openRedisResults,
};

const rpc: SchemePart<Opener> = {
  // Celery's rpc:// takes nothing from its URL: results travel on the broker connection.
  problem: () => null,
  open: async () => (await import('./rpc-open.js')).openRpcResults,
};

const STORES = new SchemeTable<Opener>({
  'redis:': redis,
  'rediss:': redis,
  'rpc:': rpc,
});

/** Why `url` cannot be a result backend URL here, or null. */
export function resultStoreProblem(url: string): string | null {
  return STORES.problem(url);
}

export async function openResultStore(url: string, o: ResultStoreOptions): Promise<ResultStore> {
  return (await STORES.load(url, 'result backend URL'))(url, o);
}
