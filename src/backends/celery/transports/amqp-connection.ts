// One AMQP connection with its own reconnect loop, for every part of the Celery backend on RabbitMQ (broker,
// remote control, events, rpc results, the client). amqplib does not resume channels, consumers or unacked
// deliveries after a connection loss (its recovery wrapper only redials), so this link counts connections in
// generations: whatever was set up on generation N (channels, consumers, delivery tags) is dead once N ends, and
// `onUp` sets everything up again on N+1. States: connecting → up → down → connecting ... → closed. Its trouble is
// logged in the shared connection-line shape (src/log/connection.ts): one WARN line per failed attempt.
import amqp, { type ChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { redactUrl } from '../../../config/redact.js';
import { ConnectionReporter } from '../../../log/connection.js';
import { amqpTarget, amqpTls } from './amqp-url.js';

export type LinkState = 'connecting' | 'up' | 'down' | 'closed';

export interface LinkOptions {
  url: string;
  logger: Logger;
  /** What this connection is for, in its log lines: broker, control, client, results. */
  role: string;
  /** Shown by RabbitMQ (connection_name): who holds this connection. */
  name: string;
  heartbeatS: number;
  connectTimeoutS: number;
  /** Everything that lives on a connection, set up again on each one (channels, topology, consumers). */
  onUp(conn: ChannelModel, gen: number): Promise<void>;
  /** Generation `gen` ended: its channels and delivery tags are gone (the broker requeued unacked deliveries). */
  onDown?(gen: number): void;
  /** Log state changes at debug only (the supervisor's node: the children's logs show broker trouble; clients). */
  quiet?: boolean;
  /**
   * Say nothing until first up: a child's broker connection, whose failure to open is its boot failure (the
   * supervisor's restart with backoff is the retry, and says the one line per attempt).
   */
  silentUntilUp?: boolean;
  /** Stop redialing after this many failed attempts while never connected (clients). */
  giveUpAfter?: number;
  /** Told of every failed attempt with the number of attempts so far (clients report the last one). */
  onError?(err: Error, attempts: number): void;
}

/** Backoff before redial number `n` (1-based): 100 ms doubling to 2 s (a broker back is used within ~2.4 s), +≤20% jitter. */
export function redialDelayMs(n: number, random: () => number = Math.random): number {
  const base = Math.min(100 * 2 ** Math.min(n - 1, 10), 2000);
  return Math.round(base * (1 + 0.2 * random()));
}

/** The AMQP reply code or socket error code of a failure, for one log field. */
export function errorCode(err: unknown): string | number | null {
  const e = err as { code?: unknown } | null;
  return typeof e?.code === 'string' || typeof e?.code === 'number' ? e.code : null;
}

/** RabbitMQ refused the credentials (403 ACCESS_REFUSED at the handshake): retrying cannot help. */
export function isAccessRefused(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err ?? '');
  return /ACCESS[_-]REFUSED/.test(message);
}

/**
 * The short reason for a connection line: the socket's errno code, ACCESS_REFUSED, the AMQP reply text's first word
 * (NOT_ALLOWED, ...), else the first line of the message.
 */
export function amqpReason(err: unknown): string {
  const e = err as { code?: unknown } | null;
  if (typeof e?.code === 'string' && e.code !== '') return e.code;
  const message = err instanceof Error ? err.message : String(err ?? 'closed');
  if (isAccessRefused(err)) return 'ACCESS_REFUSED';
  const word = /\b([A-Z][A-Z_]{4,}) - /.exec(message)?.[1];
  if (word !== undefined) return word;
  const first = message.split('\n')[0] ?? message;
  return first.length > 120 ? `${first.slice(0, 117)}...` : first;
}

export class AmqpLink {
  state: LinkState = 'connecting';
  gen = 0;
  conn: ChannelModel | null = null;
  #failures = 0;
  #everUp = false;
  #timer: NodeJS.Timeout | null = null;
  #waiters: { resolve: (c: ChannelModel) => void; reject: (e: Error) => void }[] = [];
  #lastError: Error | null = null;
  readonly #shown: string;
  readonly #report: ConnectionReporter;

  constructor(private readonly o: LinkOptions) {
    this.#shown = redactUrl(o.url);
    this.#report = new ConnectionReporter(o.logger, { role: o.role, url: o.url }, o.quiet === true);
  }

  get lastError(): Error | null {
    return this.#lastError;
  }

  /** Start dialing; resolves once up, rejects after `timeoutMs` (null: waits as long as it takes). */
  open(timeoutMs: number | null): Promise<ChannelModel> {
    void this.#dial();
    return timeoutMs === null ? this.whenUp() : this.whenUp(timeoutMs);
  }

  /** The live connection, now or once it is back (rejects when closed, or after `timeoutMs`). */
  whenUp(timeoutMs?: number): Promise<ChannelModel> {
    if (this.state === 'up' && this.conn) return Promise.resolve(this.conn);
    if (this.state === 'closed') return Promise.reject(new Error('amqp connection closed'));
    return new Promise<ChannelModel>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const w = {
        resolve: (c: ChannelModel) => {
          clearTimeout(timer);
          resolve(c);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          const why = this.#lastError ? `: ${this.#lastError.message}` : '';
          reject(new Error(`amqp broker ${this.#shown} not reachable within ${timeoutMs} ms${why}`));
        }, timeoutMs);
      }
      this.#waiters.push(w);
    });
  }

  async #dial(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    let conn: ChannelModel | null = null;
    let gen = 0;
    try {
      conn = await this.#connect();
      gen = ++this.gen;
      this.conn = conn;
      conn.on('error', (err: Error) => (this.#lastError = err));
      conn.on('close', (err?: Error) => this.#lost(conn as ChannelModel, gen, err ?? this.#lastError));
      await this.o.onUp(conn, gen);
      if ((this.state as LinkState) === 'closed') return;
      // Lost while being set up: that attempt failed.
      if (this.conn !== conn) throw this.#lastError ?? new Error('amqp connection closed during set-up');
      this.state = 'up';
      this.#report.up();
      this.#everUp = true;
      this.#failures = 0;
      for (const w of this.#waiters.splice(0)) w.resolve(conn);
    } catch (err) {
      this.#lastError = err as Error;
      if (conn !== null) {
        // Set-up failed on a live connection (a channel error, a refused declare): drop it and dial again.
        conn.removeAllListeners('close');
        conn.on('error', () => undefined);
        if (this.conn === conn) {
          this.conn = null;
          this.o.onDown?.(gen);
        }
        await conn.close().catch(() => undefined);
      }
      this.#retry(err as Error);
    }
  }

  async #connect(): Promise<ChannelModel> {
    const t = amqpTarget(this.o.url);
    const connectTimeoutS = t.connectTimeoutS ?? this.o.connectTimeoutS;
    const socket: amqp.SocketOptions = {
      noDelay: true,
      clientProperties: { connection_name: this.o.name },
      ...(connectTimeoutS > 0 ? { timeout: connectTimeoutS * 1000 } : {}),
      ...(t.tls ? amqpTls(t) : {}),
    };
    return amqp.connect(
      {
        protocol: t.tls ? 'amqps' : 'amqp',
        hostname: t.hostname,
        port: t.port,
        username: t.username,
        password: t.password,
        vhost: t.vhost,
        heartbeat: t.heartbeatS ?? this.o.heartbeatS,
      },
      socket,
    );
  }

  #retry(err: Error): void {
    if (this.state === 'closed') return;
    this.state = 'down';
    this.#failures++;
    this.o.onError?.(err, this.#failures);
    if (!this.#everUp && this.o.giveUpAfter !== undefined && this.#failures >= this.o.giveUpAfter) {
      this.state = 'closed';
      for (const w of this.#waiters.splice(0)) w.reject(err);
      return;
    }
    const delay = redialDelayMs(this.#failures);
    // One line per attempt (the stack only at debug): the URL without its password, the code, the next delay.
    if (this.#everUp || this.o.silentUntilUp !== true) this.#report.failed(codeOf(err), delay);
    this.#timer = setTimeout(() => void this.#dial(), delay);
  }

  #lost(conn: ChannelModel, gen: number, err: Error | null): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.o.onDown?.(gen);
    if (this.state === 'closed') return;
    // A close during set-up is that attempt's failure (#dial's catch redials); a live connection redials now.
    if (this.state === 'up') {
      this.state = 'down';
      this.#failures = 1;
      const delay = redialDelayMs(1);
      this.#report.failed(err === null ? null : codeOf(err), delay);
      this.#timer = setTimeout(() => void this.#dial(), delay);
    }
  }

  /** Close on purpose (not "connection lost"); waiters are rejected. */
  async close(): Promise<void> {
    if (this.state === 'closed' && this.conn === null) return;
    this.state = 'closed';
    if (this.#timer) clearTimeout(this.#timer);
    for (const w of this.#waiters.splice(0)) w.reject(new Error('amqp connection closed'));
    const conn = this.conn;
    this.conn = null;
    if (conn) {
      conn.removeAllListeners('close');
      conn.on('error', () => undefined);
      await conn.close().catch(() => undefined);
      this.o.onDown?.(this.gen);
    }
  }
}

/** The error as ConnectionReporter reads it: AMQP errors carry a numeric reply code, the reason is the word. */
function codeOf(err: Error): { code: string; message: string; stack?: string } {
  return { code: amqpReason(err), message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
}
