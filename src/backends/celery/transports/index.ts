// Broker URL scheme → transport part. A new transport is a new file in this directory plus one line here; the
// module loads only when its scheme is used (a Redis worker never loads an AMQP client).
import type { Transport, TransportOptions } from '../transport.js';
import { redisUrlProblem } from './redis-url.js';

type Opener = (url: string, o: TransportOptions) => Promise<Transport>;

interface TransportPart {
  /** Why this URL cannot be used (bad TLS parameter...), or null. */
  problem(url: string): string | null;
  open(): Promise<Opener>;
}

const redis: TransportPart = {
  problem: redisUrlProblem,
  open: async () => (await import('./redis.js')).openRedisTransport,
};

/** By URL scheme (with its colon, as URL.protocol gives it). */
const TRANSPORTS: Readonly<Record<string, TransportPart>> = {
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

/** Why `url` cannot be a broker URL here (unknown scheme, bad parameters), or null. */
export function transportProblem(url: string): string | null {
  const scheme = schemeOf(url);
  if (scheme === null) return 'is not a valid URL';
  const part = TRANSPORTS[scheme];
  if (part === undefined) return `must be a ${Object.keys(TRANSPORTS).join('// or ')}// URL`;
  return part.problem(url);
}

/** Connect to the broker at `url` (throws when it cannot: a retryable boot failure in a child). */
export async function openTransport(url: string, o: TransportOptions): Promise<Transport> {
  const problem = transportProblem(url);
  if (problem !== null) throw new Error(`broker URL ${problem}`);
  const part = TRANSPORTS[schemeOf(url) as string] as TransportPart;
  return (await part.open())(url, o);
}
