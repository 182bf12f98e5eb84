// Celery's database result backend URLs (SQLAlchemy's `db+postgresql[+driver]://user:pw@host:port/db?...`) → the
// connection settings of node-postgres. The driver part (psycopg2, psycopg) only tells SQLAlchemy which Python
// library to load; every form points at the same server. Query parameters are libpq's, as psycopg passes them on:
// `options` (e.g. -csearch_path=<schema>), `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `connect_timeout`,
// `application_name`. Anything else is refused by name, not ignored.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

export const DATABASE_SCHEMES = ['db+postgresql:', 'db+postgresql+psycopg2:', 'db+postgresql+psycopg:'] as const;

const SSLMODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
type SslMode = (typeof SSLMODES)[number];
const PARAMS = new Set([
  'options',
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'connect_timeout',
  'application_name',
]);

/** What node-postgres needs (a subset of pg.ClientConfig, kept free of the pg import for the pure tests). */
export interface DatabaseTarget {
  host: string;
  port: number;
  user: string | undefined;
  password: string | undefined;
  database: string | undefined;
  /** libpq's `options`: server settings at connection start (search_path...). */
  options: string | undefined;
  ssl: false | ConnectionOptions;
  connectTimeoutMs: number | undefined;
  applicationName: string | undefined;
}

/** Why this URL cannot be a database result backend here, or null. */
export function databaseUrlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  if (!(DATABASE_SCHEMES as readonly string[]).includes(u.protocol))
    return `must be a ${DATABASE_SCHEMES.map((s) => `${s}//`).join(' or ')} URL (only PostgreSQL is supported)`;
  if (u.hostname === '') return 'has no host';
  if (u.pathname.length <= 1) return 'names no database (db+postgresql://user:password@host:5432/<database>)';
  for (const [k, v] of u.searchParams) {
    if (!PARAMS.has(k)) return `has unsupported parameter ${k} (supported: ${[...PARAMS].join(', ')})`;
    if (k === 'sslmode' && !(SSLMODES as readonly string[]).includes(v))
      return `has sslmode=${v} (expected one of ${SSLMODES.join(', ')})`;
    if (k === 'connect_timeout' && !/^\d+$/.test(v)) return `has connect_timeout=${v} (expected whole seconds)`;
  }
  return null;
}

const decode = (s: string): string | undefined => (s === '' ? undefined : decodeURIComponent(s));

/**
 * The connection settings for `url`. TLS follows libpq's sslmode: disable/allow/prefer connect without TLS
 * (node-postgres cannot fall back from one to the other, so "prefer" is taken as "allow"), require encrypts
 * without verifying the certificate (unless sslrootcert is given, as libpq does), verify-ca checks the chain,
 * verify-full also the host name. `readFile` is the seam for the PEM files.
 */
export function databaseTarget(url: string, readFile: (path: string) => Buffer = readFileSync): DatabaseTarget {
  const problem = databaseUrlProblem(url);
  if (problem !== null) throw new Error(`result backend URL ${problem}`);
  const u = new URL(url);
  const q = u.searchParams;
  const file = (param: string): Buffer | undefined => {
    const path = q.get(param);
    if (path === null || path === '') return undefined;
    try {
      return readFile(path);
    } catch (err) {
      throw new Error(`cannot read ${param} file ${path}: ${(err as Error).message}`);
    }
  };
  const mode = (q.get('sslmode') ?? 'prefer') as SslMode;
  let ssl: false | ConnectionOptions = false;
  if (mode === 'require' || mode === 'verify-ca' || mode === 'verify-full') {
    const ca = file('sslrootcert');
    const verify = mode !== 'require' || ca !== undefined;
    ssl = { rejectUnauthorized: verify };
    if (ca) ssl.ca = ca;
    const cert = file('sslcert');
    const key = file('sslkey');
    if (cert) ssl.cert = cert;
    if (key) ssl.key = key;
    if (mode !== 'verify-full') ssl.checkServerIdentity = () => undefined;
  }
  const timeout = q.get('connect_timeout');
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? 5432 : Number(u.port),
    user: decode(u.username),
    password: decode(u.password),
    database: decode(u.pathname.slice(1)),
    options: q.get('options') ?? undefined,
    ssl,
    connectTimeoutMs: timeout === null || timeout === '0' ? undefined : Number(timeout) * 1000,
    applicationName: q.get('application_name') ?? undefined,
  };
}
