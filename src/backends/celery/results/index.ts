// Result backend URL scheme → result store part. A new store (database, rpc) is a new file in this directory plus
// one line here; its module loads only when its scheme is used.
import type { Logger } from 'pino';
import type { ResultStore } from '../results.js';
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

interface ResultStorePart {
  problem(url: string): string | null;
  open(): Promise<Opener>;
}

const redis: ResultStorePart = {
  problem: redisUrlProblem,
  open: async () => (await import('./redis-open.js')).openRedisResults,
};

/** By URL scheme (with its colon, as URL.protocol gives it). */
const STORES: Readonly<Record<string, ResultStorePart>> = {
  'redis:': redis,
  'rediss:': redis,
};

function schemeOf(url: string): string | null {
  try {
    return new URL(url).protocol;
  } catch {
    return null;
  }
}

/** Why `url` cannot be a result backend URL here, or null. */
export function resultStoreProblem(url: string): string | null {
  const scheme = schemeOf(url);
  if (scheme === null) return 'is not a valid URL';
  const part = STORES[scheme];
  if (part === undefined) return `must be a ${Object.keys(STORES).join('// or ')}// URL`;
  return part.problem(url);
}

export async function openResultStore(url: string, o: ResultStoreOptions): Promise<ResultStore> {
  const problem = resultStoreProblem(url);
  if (problem !== null) throw new Error(`result backend URL ${problem}`);
  const part = STORES[schemeOf(url) as string] as ResultStorePart;
  return (await part.open())(url, o);
}
