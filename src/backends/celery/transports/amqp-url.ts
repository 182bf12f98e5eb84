// Celery/kombu AMQP URLs → amqplib connection options, parsed the way kombu.utils.url.parse_url does:
// `amqp://user:password@host:port/vhost` (percent-decoded; `//` and `/%2F` are the vhost "/", an empty path too),
// `amqps://` for TLS (default port 5671) with kombu's ssl_* query parameters, `pyamqp://` as `amqp://`.
// `heartbeat` and `connect_timeout` in the query override the settings, as kombu's Connection takes them.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { SSL_PARAMS, sslValueProblem, tlsFromQuery } from './tls-query.js';

export const AMQP_SCHEMES = ['amqp:', 'amqps:', 'pyamqp:'] as const;

export interface AmqpTarget {
  hostname: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
  tls: boolean;
  /** Seconds; null: the setting's value. */
  heartbeatS: number | null;
  connectTimeoutS: number | null;
  /** The ssl_* parameters as given (paths unread). */
  ssl: Map<string, string>;
}

const OTHER_PARAMS = new Set(['heartbeat', 'connect_timeout']);

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const seconds = (v: string): number | null => {
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) && n >= 0 ? n : null;
};

/** Why `url` cannot be an AMQP broker URL (bad scheme, unknown parameter, bad value), or null. */
export function amqpUrlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  if (!(AMQP_SCHEMES as readonly string[]).includes(u.protocol)) return 'must be an amqp://, amqps:// or pyamqp:// URL';
  if (u.hostname === '') return 'has no host';
  for (const [k, v] of u.searchParams) {
    if (OTHER_PARAMS.has(k)) {
      if (seconds(v) === null) return `has ${k}=${v} (expected seconds, a number ≥ 0)`;
      continue;
    }
    if (!SSL_PARAMS.has(k)) {
      return `has unsupported parameter ${k} (supported: ${[...SSL_PARAMS, ...OTHER_PARAMS].join(', ')})`;
    }
    // kombu would switch to TLS here; silently ignoring a security setting is worse than refusing it.
    if (u.protocol !== 'amqps:') return `has ${k} but is not amqps:// (TLS needs the amqps:// scheme)`;
    const bad = sslValueProblem(k, v);
    if (bad !== null) return bad;
  }
  return null;
}

/** The parts of an AMQP URL (throws on a URL amqpUrlProblem refuses). */
export function amqpTarget(url: string): AmqpTarget {
  const problem = amqpUrlProblem(url);
  if (problem !== null) throw new Error(`broker URL ${problem}`);
  const u = new URL(url);
  const tls = u.protocol === 'amqps:';
  // kombu strips ONE leading slash: "//" → "/", "/x" → "x", "" → the default "/".
  const path = decode(u.pathname.replace(/^\//, ''));
  const ssl = new Map<string, string>();
  for (const k of SSL_PARAMS) {
    const v = u.searchParams.get(k);
    if (v !== null) ssl.set(k, v);
  }
  const q = (k: string): number | null => {
    const v = u.searchParams.get(k);
    return v === null ? null : seconds(v);
  };
  return {
    hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? (tls ? 5671 : 5672) : Number(u.port),
    // kombu's defaults when the URL names no user: guest/guest (RabbitMQ's loopback-only account).
    username: u.username === '' ? 'guest' : decode(u.username),
    password: u.username === '' && u.password === '' ? 'guest' : decode(u.password),
    vhost: path === '' ? '/' : path,
    tls,
    heartbeatS: q('heartbeat'),
    connectTimeoutS: q('connect_timeout'),
    ssl,
  };
}

/** TLS options for an amqps:// target; `readFile` is the seam for the PEM files. */
export function amqpTls(t: AmqpTarget, readFile: (path: string) => Buffer = readFileSync): ConnectionOptions {
  const tls = tlsFromQuery(t.ssl, readFile);
  // SNI only for a name: Node refuses an IP address as servername.
  if (!/^[\d.]+$|:/.test(t.hostname)) tls.servername = t.hostname;
  return tls;
}
