// How every connection reports trouble (Celery broker, result store, events and remote control; the Temporal and
// Hatchet servers): ONE line per failed attempt at WARN naming the connection, where it goes (password redacted),
// the error code and the next delay; the stack only at debug; "restored" at INFO once when it is back.
// The shape is documented in docs/operations.md (Connection log lines); a new transport reports through this.
import type { Logger } from 'pino';
import { redactUrl } from '../config/redact.js';

/** The constant messages (machines match on these; pretty mode renders the fields as one readable line). */
export const CONNECTION_MSG = {
  /** A live connection dropped; the reconnect is scheduled. */
  lost: 'connection lost, reconnecting',
  /** An attempt to (re)connect failed; the next one is scheduled. */
  failed: 'connection failed, retrying',
  restored: 'connection restored',
} as const;

/**
 * The supervisor's line for a child that could not reach its broker or server at start ({child, reason, code,
 * attempt, retryInMs}): the supervisor's restart with backoff is that connection's retry, so it is the one line.
 */
export const CHILD_UNREACHABLE_MSG = 'child could not reach its backend, retrying';

/** What a connection is and where it goes. */
export interface ConnectionTarget {
  /** What it is for: broker, results, events, control, temporal, hatchet. */
  role: string;
  /** Its URL or host:port; any password in it is redacted before it is logged. */
  url: string;
}

/** Node's socket error codes worth naming as they are. */
const CODE_IN_TEXT =
  /\b(E(?:CONNREFUSED|CONNRESET|CONNABORTED|NOTFOUND|TIMEDOUT|HOSTUNREACH|NETUNREACH|PIPE|AI_AGAIN|ADDRNOTAVAIL))\b/;
/** Rust's io::ErrorKind names as tonic prints them (Temporal's Core), mapped to the errno names operators know. */
const RUST_KINDS: Record<string, string> = {
  ConnectionRefused: 'ECONNREFUSED',
  ConnectionReset: 'ECONNRESET',
  ConnectionAborted: 'ECONNABORTED',
  TimedOut: 'ETIMEDOUT',
  HostUnreachable: 'EHOSTUNREACH',
  NetworkUnreachable: 'ENETUNREACH',
  AddrNotAvailable: 'EADDRNOTAVAIL',
  BrokenPipe: 'EPIPE',
};

/**
 * The short reason an operator acts on: the errno code (ECONNREFUSED, ENOTFOUND, ...) wherever it is (a Node
 * error's code, a gRPC error's text, tonic's `kind: ConnectionRefused`), a server's error word (WRONGPASS,
 * NOAUTH), else the first line of the message, cut at 120 characters.
 */
export function connectionCode(err: unknown): string {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string' && code !== '') return code;
  const message = err instanceof Error ? err.message : String(err ?? 'closed');
  const inText = CODE_IN_TEXT.exec(message);
  if (inText) return inText[1] as string;
  const kind = /kind: (\w+)/.exec(message)?.[1];
  if (kind !== undefined && RUST_KINDS[kind] !== undefined) return RUST_KINDS[kind];
  if (/dns error|failed to lookup address|Name or service not known/i.test(message)) return 'ENOTFOUND';
  const word = /^([A-Z][A-Z_]{3,})\b/.exec(message)?.[1];
  if (word !== undefined) return word; // Redis: WRONGPASS, NOAUTH, LOADING; gRPC: UNAVAILABLE
  const first = message.split('\n')[0] ?? message;
  return first.length > 120 ? `${first.slice(0, 117)}...` : first;
}

/**
 * One connection's trouble, as log lines: `failed()` per failed attempt, `up()` on every (re)connect. Quiet
 * reporters (a second connection to the same server in the same process, whose trouble the first one reports)
 * say all of it at debug.
 */
export class ConnectionReporter {
  readonly #fields: { role: string; url: string };
  #failures = 0;
  #wasUp = false;

  constructor(
    private readonly logger: Logger,
    target: ConnectionTarget,
    private readonly quiet = false,
  ) {
    this.#fields = { role: target.role, url: redactUrl(target.url) };
  }

  /** Failed attempts since it was last up. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * One failed attempt, or the drop of a live connection (`err` null when it just closed): ONE line at WARN with
   * the code and the delay before the next attempt; the error itself (its stack) at debug.
   */
  failed(err: unknown, retryInMs: number): void {
    const lost = this.#failures === 0 && this.#wasUp;
    this.#failures += 1;
    const line = {
      ...this.#fields,
      code: err === null ? 'closed' : connectionCode(err),
      attempt: this.#failures,
      retryInMs: Math.round(retryInMs),
    };
    const msg = lost ? CONNECTION_MSG.lost : CONNECTION_MSG.failed;
    if (this.quiet) this.logger.debug(line, msg);
    else this.logger.warn(line, msg);
    if (err !== null && this.logger.isLevelEnabled('debug')) {
      this.logger.debug({ ...this.#fields, err }, 'connection error detail');
    }
  }

  /** Connected. After failures: "restored" once, at INFO (debug when quiet). */
  up(): void {
    const after = this.#failures;
    this.#failures = 0;
    this.#wasUp = true;
    if (after === 0) return;
    const line = { ...this.#fields, attempts: after };
    if (this.quiet) this.logger.debug(line, CONNECTION_MSG.restored);
    else this.logger.info(line, CONNECTION_MSG.restored);
  }
}
