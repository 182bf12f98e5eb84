// Celery/kombu Redis URLs → ioredis: the TLS query parameters kombu and redis-py read from a `rediss://` URL
// (`ssl_cert_reqs`, `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`, `ssl_check_hostname`) become
// ioredis `tls` options, so one URL works for the Python client and for our worker. ioredis alone ignores them.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { SSL_PARAMS, sslValueProblem, tlsFromQuery } from './tls-query.js';

export interface RedisTarget {
  /** The URL without the ssl_* parameters (ioredis parses host, port, password, db and the rest). */
  url: string;
  /** Present for rediss:// only. */
  tls?: ConnectionOptions;
}

/** A reason the URL cannot be used (unknown ssl_* parameter, ssl_* on redis://, bad value), or null. */
export function redisUrlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return 'must be a redis:// or rediss:// URL';
  for (const [k, v] of u.searchParams) {
    if (!k.startsWith('ssl_')) continue;
    // kombu would switch to TLS here; silently ignoring a security setting is worse than refusing it.
    if (u.protocol === 'redis:') return `has ${k} but is not rediss:// (TLS needs the rediss:// scheme)`;
    if (!SSL_PARAMS.has(k)) return `has unsupported TLS parameter ${k} (supported: ${[...SSL_PARAMS].join(', ')})`;
    const bad = sslValueProblem(k, v);
    if (bad !== null) return bad;
  }
  return null;
}

/** Split a URL into what ioredis understands and TLS options; `readFile` is the seam for the PEM files. */
export function redisTarget(url: string, readFile: (path: string) => Buffer = readFileSync): RedisTarget {
  const problem = redisUrlProblem(url);
  if (problem !== null) throw new Error(`redis URL ${problem}`);
  const u = new URL(url);
  const q = new Map<string, string>();
  for (const k of SSL_PARAMS) {
    const v = u.searchParams.get(k);
    if (v !== null) q.set(k, v);
    u.searchParams.delete(k);
  }
  if (u.protocol !== 'rediss:') return { url };
  const tls = tlsFromQuery(q, readFile);
  return { url: u.href, tls };
}
