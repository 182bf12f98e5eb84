// The pool-side half of the Celery backend, run by the supervisor as a PoolExtension: the remote-control node
// (celery@host answering `celery inspect` / `celery control` for every child) and the worker-* events. Its broker
// code loads only when the pool is ready, like Celery's own worker starts its remote control late.
import type { WorkerConfig } from '../../config/types.js';
import { serializeError } from '../../ipc/messages.js';
import type { PoolExtension, PoolHandle } from '../../supervisor/api.js';

interface Closable {
  close(): Promise<void>;
}

export function celeryPoolExtension(config: WorkerConfig): PoolExtension {
  let pool: PoolHandle | null = null;
  let node: Promise<Closable | null> = Promise.resolve(null);
  return {
    name: 'celery',
    attach(p) {
      pool = p;
    },
    start(signal) {
      const p = pool;
      if (p === null) return Promise.resolve();
      node = (async () => {
        try {
          const { startControlNode } = await import('./control/index.js');
          return await startControlNode(config, p, p.logger, { signal });
        } catch (e) {
          // The pool runs on without remote control, loudly.
          if (!signal.aborted) p.logger.error({ err: serializeError(e) }, 'celery remote control unavailable');
          return null;
        }
      })();
      return node.then(() => undefined);
    },
    async close() {
      await (await node)?.close();
    },
  };
}
