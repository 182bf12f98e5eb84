// While the Temporal server is away, Core retries every poller's gRPC call by itself and warns about each retry
// of each poller ("gRPC call poll_activity_task_queue retried 6 times": 20 pollers, ~60 lines in 20 s). Those go to
// debug (runtime.ts); the first one starts this watch, which checks the server itself at a backoff and says it the
// way every connection does (src/log/connection.ts): ONE line per attempt with the code and the next delay, and
// "restored" once when the server accepts connections again (Core's pollers reconnect on their own).
import { connect } from 'node:net';
import type { ConnectionReporter } from '../../log/connection.js';

/** Delay before the next check: 250 ms doubling, capped at 5 s (the Celery broker's reconnects cap there too). */
export function watchDelayMs(attempt: number): number {
  return Math.min(250 * 2 ** Math.max(0, attempt - 1), 5000);
}

/** host:port → a TCP connect that resolves once accepted (the errno code when refused, ETIMEDOUT when silent). */
export function tcpProbe(address: string, timeoutMs = 2000): () => Promise<void> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  return () =>
    new Promise<void>((resolve, reject) => {
      const s = connect({ host, port, timeout: timeoutMs });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('timeout', () => {
        s.destroy();
        reject(Object.assign(new Error(`no answer from ${address} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      });
      s.once('error', (err) => {
        s.destroy();
        reject(err);
      });
    });
}

export class ServerWatch {
  #probing = false;
  #closed = false;
  #timer: NodeJS.Timeout | null = null;
  #wake: (() => void) | null = null;

  constructor(
    private readonly report: ConnectionReporter,
    private readonly probe: () => Promise<void>,
    private readonly delayMs: (attempt: number) => number = watchDelayMs,
  ) {
    report.up(); // connected: the first failure is "lost"
  }

  /** Core reported trouble: check the server until it answers (once at a time). */
  trouble(): void {
    if (this.#probing || this.#closed) return;
    this.#probing = true;
    void this.#loop().finally(() => (this.#probing = false));
  }

  async #loop(): Promise<void> {
    for (let attempt = 1; !this.#closed; attempt++) {
      try {
        await this.probe();
        if (!this.#closed) this.report.up();
        return;
      } catch (err) {
        if (this.#closed) return;
        const delay = this.delayMs(attempt);
        this.report.failed(err, delay);
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#timer = setTimeout(resolve, delay);
        });
      }
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#wake?.();
  }
}
