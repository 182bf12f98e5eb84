// Opening Redis results: on the broker's own connection when both URLs are the same server (the settle fast path
// then stores and acks in one script), else on a connection of their own.
import { connectRedis, openRedis } from '../transports/redis-connection.js';
import { RedisTransport } from '../transports/redis.js';
import type { ResultStoreOptions } from './index.js';
import { RedisResultStore } from './redis.js';

export async function openRedisResults(url: string, o: ResultStoreOptions): Promise<RedisResultStore> {
  const subscriber = () => connectRedis(url, o.logger, 'results', { lazy: false, quiet: true });
  const shared = o.broker !== null && o.broker.url === url && o.broker.transport instanceof RedisTransport;
  if (shared) {
    const redis = (o.broker?.transport as RedisTransport).redis;
    return new RedisResultStore(redis, { expiresS: o.expiresS, ownsConnection: false, subscriber });
  }
  const redis = connectRedis(url, o.logger, 'results');
  try {
    await openRedis(redis, o.connectTimeoutMs, 'results', url);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  return new RedisResultStore(redis, { expiresS: o.expiresS, ownsConnection: true, subscriber });
}
