// The pool-side half of the Celery backend, run by the supervisor as a PoolExtension: the node's per-task limits
// (rate-limit tokens for every child, time limits for later runs) from the first fork on, and, once the pool is
// ready, the remote-control node (celery@host answering `celery inspect` / `celery control`) with the worker-*
// events. Its broker code loads only then, like Celery's own worker starts its remote control late.
import type { WorkerConfig } from '../../config/types.js';
import { serializeError } from '../../ipc/messages.js';
import type { PoolExtension, PoolHandle } from '../../supervisor/api.js';
import { TOPIC_RATE } from './limits.js';
import { NodeLimits } from './node-limits.js';

interface Closable {
  close(): Promise<void>;
}

export function celeryPoolExtension(config: WorkerConfig): PoolExtension {
  let pool: PoolHandle | null = null;
  let limits: NodeLimits | null = null;
  let node: Promise<Closable | null> = Promise.resolve(null);
  return {
    name: 'celery',
    attach(p) {
      pool = p;
      const l = (limits = new NodeLimits(p));
      p.onChildMessage((gen, msg) => {
        if (msg.type === 'extension' && msg.topic === TOPIC_RATE) l.request(gen, msg.data);
      });
      // A child forked while the table changed may have missed the push: a ready child hears it once more.
      p.on('childReady', (e) => l.push(e.id));
    },
    start(signal) {
      const p = pool;
      const l = limits;
      if (p === null || l === null) return Promise.resolve();
      node = (async () => {
        try {
          const { startControlNode } = await import('./control/node.js');
          return await startControlNode(config, p, l, { signal });
        } catch (e) {
          // The pool runs on without remote control, loudly.
          if (!signal.aborted) p.logger.error({ err: serializeError(e) }, 'celery remote control unavailable');
          return null;
        }
      })();
      return node.then(() => undefined);
    },
    async close() {
      limits?.close();
      await (await node)?.close();
    },
  };
}
