// The TLS query parameters kombu reads from a broker URL (`ssl_cert_reqs`, `ssl_ca_certs`, `ssl_certfile`,
// `ssl_keyfile`, `ssl_check_hostname`), with Python's meaning, as Node TLS options: shared by rediss:// and
// amqps://, so one URL means the same on both brokers.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

// kombu's parse_ssl_cert_reqs accepts both spellings. In client mode Python's CERT_OPTIONAL verifies like
// CERT_REQUIRED (the server always presents a certificate), so only "none" turns verification off.
const CERT_REQS: Record<string, boolean> = {
  required: true,
  CERT_REQUIRED: true,
  optional: true,
  CERT_OPTIONAL: true,
  none: false,
  CERT_NONE: false,
};
export const SSL_PARAMS: ReadonlySet<string> = new Set([
  'ssl_cert_reqs',
  'ssl_ca_certs',
  'ssl_certfile',
  'ssl_keyfile',
  'ssl_check_hostname',
]);

/** Why the value of the known parameter `k` is wrong, or null. */
export function sslValueProblem(k: string, v: string): string | null {
  return k === 'ssl_cert_reqs' && !(v in CERT_REQS)
    ? `has ssl_cert_reqs=${v} (expected required, optional or none)`
    : null;
}

/** Node TLS options for the given ssl_* parameters; `readFile` is the seam for the PEM files. */
export function tlsFromQuery(
  params: ReadonlyMap<string, string>,
  readFile: (path: string) => Buffer = readFileSync,
): ConnectionOptions {
  const file = (param: string): Buffer | undefined => {
    const path = params.get(param);
    if (path === undefined || path === '') return undefined;
    try {
      return readFile(path);
    } catch (err) {
      throw new Error(`cannot read ${param} file ${path}: ${(err as Error).message}`);
    }
  };
  const verify = CERT_REQS[params.get('ssl_cert_reqs') ?? 'required'] ?? true;
  const tls: ConnectionOptions = { rejectUnauthorized: verify };
  const ca = file('ssl_ca_certs');
  const cert = file('ssl_certfile');
  const key = file('ssl_keyfile');
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  // kombu: any value but "false" keeps the hostname check; nothing is checked when nothing is verified.
  if (!verify || params.get('ssl_check_hostname')?.toLowerCase() === 'false') tls.checkServerIdentity = () => undefined;
  return tls;
}
