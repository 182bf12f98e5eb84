// Opening rpc:// results: they travel on the broker's own AMQP connection (Celery's RPC backend uses the broker
// connection too), so a RabbitMQ broker must be open in this process.
import { AmqpTransport } from '../transports/amqp.js';
import type { ResultStoreOptions } from './index.js';
import { RpcResultStore } from './rpc.js';

export async function openRpcResults(_url: string, o: ResultStoreOptions): Promise<RpcResultStore> {
  const t = o.broker?.transport;
  if (!(t instanceof AmqpTransport)) {
    throw new Error('result backend URL rpc:// needs a RabbitMQ broker (an amqp://, amqps:// or pyamqp:// URL)');
  }
  return new RpcResultStore(t, { logger: o.logger, expiresS: o.expiresS, ownsTransport: false });
}
