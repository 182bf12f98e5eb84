// Secrets never leave the process: tokens and API keys become [REDACTED], passwords inside URLs become ***.
// Used by logs (src/log/logger.ts), error messages and the `config` command.
import { SETTINGS } from './settings.js';
import type { ConfigKey } from './table-types.js';
import type { WorkerConfig } from './types.js';

export const REDACTED = '[REDACTED]';

const USERINFO_RE = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i;
const SECRET_QUERY_RE = /([?&](?:password|passwd|pass|token|secret|key|api_key|apikey|auth|access_token)=)[^&#]*/gi;

/**
 * `redis://user:pw@host/0` → `redis://user:***@host/0`; `redis://pw@host` → `redis://***@host` (Redis URLs put
 * a lone password there); secret query parameters → ***. Works on strings that are not valid URLs too.
 */
export function redactUrl(url: string): string {
  let out = url.replace(USERINFO_RE, (_m, scheme: string, userinfo: string) => {
    if (userinfo === '') return `${scheme}@`;
    const colon = userinfo.indexOf(':');
    return colon === -1 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
  out = out.replace(SECRET_QUERY_RE, '$1***');
  return out;
}

/** Redact one setting's value the way every output must show it. */
export function redactValue(key: ConfigKey, value: unknown): unknown {
  const row = SETTINGS.find((s) => s.key === key);
  if (row === undefined || value === null || value === undefined) return value;
  if (row.secret === true) return REDACTED;
  if (row.type.kind === 'url' && typeof value === 'string') return redactUrl(value);
  return value;
}

/** A deep copy of the config safe to log or print. */
export function redact(config: WorkerConfig): WorkerConfig {
  const copy = structuredClone(config);
  for (const row of SETTINGS) {
    const parts = row.key.split('.');
    let obj = copy as unknown as Record<string, unknown>;
    for (const p of parts.slice(0, -1)) obj = obj[p] as Record<string, unknown>;
    const last = parts[parts.length - 1] as string;
    obj[last] = redactValue(row.key, obj[last]);
  }
  return copy;
}

/** Every secret string in a config (tokens, URL passwords), so tests and log sinks can check for leaks. */
export function secretsOf(config: WorkerConfig): string[] {
  const out: string[] = [];
  for (const row of SETTINGS) {
    const v = row.key.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown> | null)?.[p], config);
    if (typeof v !== 'string' || v === '') continue;
    if (row.secret === true) out.push(v);
    else if (row.type.kind === 'url') {
      const m = USERINFO_RE.exec(v);
      const userinfo = m?.[2] ?? '';
      const colon = userinfo.indexOf(':');
      const pw = colon === -1 ? userinfo : userinfo.slice(colon + 1);
      if (pw !== '') out.push(pw, safeDecode(pw));
    }
  }
  return [...new Set(out)];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
