// Loopback ports for the servers the tests start. They are taken BELOW the kernel's ephemeral range
// (net.ipv4.ip_local_port_range): a port the kernel hands out for `listen(0)` or an outgoing connection can be handed
// out again to any process the moment it is released, and the servers started here (Temporal's dev server picks its
// internal service ports exactly that way) then lose the race for it. A random port under the range, checked by
// binding it, is never what the kernel gives to anyone else.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const DEFAULT_LOW = 32768;
const FLOOR = 10_000;
/** Ports this process handed out already (two servers in one file must not get the same one). */
const given = new Set<number>();

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > FLOOR + 1000 ? low : DEFAULT_LOW;
  } catch {
    return DEFAULT_LOW;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A free port on 127.0.0.1 outside the ephemeral range; throws after 200 tries that all found a port in use. */
export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  for (let i = 0; i < 200; i++) {
    const port = FLOOR + Math.floor(Math.random() * (high - FLOOR));
    if (given.has(port)) continue;
    if (await bindable(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free port on 127.0.0.1 between ${FLOOR} and ${high} after 200 tries`);
}
