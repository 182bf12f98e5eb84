// Loopback ports for the dev servers: one the kernel hands out, and whether something listens on one.
import { once } from 'node:events';
import { connect, createServer } from 'node:net';

/** A port the kernel just handed out on 127.0.0.1 (servers that refuse port 0 get it this way). */
export async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  srv.close();
  await once(srv, 'close');
  if (addr === null || typeof addr === 'string') throw new Error('no free port');
  return addr.port;
}

/** Does 127.0.0.1:`port` accept a connection now? */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
