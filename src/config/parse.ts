// Pure parsers for the value types of the settings table (int, duration, size, bool, enum, list, url, ...).
// Each returns the parsed value or throws ParseFailure saying what is accepted; compile.ts adds setting and source.

export class ParseFailure extends Error {
  override name = 'ParseFailure';
  constructor(readonly accepted: string) {
    super(accepted);
  }
}

const INT_RE = /^[+]?\d+$/;

export function parseInt10(raw: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const s = raw.trim();
  const accepted = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  if (!INT_RE.test(s)) throw new ParseFailure(accepted);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ParseFailure(accepted);
  return n;
}

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)?$/i;
export const DURATION_ACCEPTED = 'a duration such as 500ms, 30s, 2m, 1h, 1d (a bare number is seconds)';

/** Duration → milliseconds. A bare number is seconds (Celery's convention for timeouts). */
export function parseDurationMs(raw: string, minMs = 0): number {
  const m = DURATION_RE.exec(raw.trim());
  if (m === null) throw new ParseFailure(DURATION_ACCEPTED);
  const unit = (m[2] ?? 's').toLowerCase();
  const ms = Number(m[1]) * (DURATION_UNITS_MS[unit] ?? 1000);
  if (!Number.isFinite(ms)) throw new ParseFailure(DURATION_ACCEPTED);
  if (ms < minMs) throw new ParseFailure(`${DURATION_ACCEPTED}, at least ${formatDuration(minMs)}`);
  return Math.round(ms);
}

/** Shortest exact spelling of a duration in ms, for docs and help ("30s", "1d", "500ms"). */
export function formatDuration(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [u, f] of units) if (ms !== 0 && ms % f === 0) return `${ms / f}${u}`;
  return `${ms}ms`;
}

// KB/MB/GB are decimal (SI); KiB/MiB/GiB and the one-letter K/M/G (Docker style) are binary.
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
};
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i;

/** Size → bytes. `bare` is the unit of a bare number: KiB for memory limits (like Celery), bytes otherwise. */
export function parseSizeBytes(raw: string, bare: 'KiB' | 'B'): number {
  const accepted = `a size such as 512MiB, 512MB, 1GiB, 64K (a bare number is ${bare === 'KiB' ? 'KiB' : 'bytes'})`;
  const m = SIZE_RE.exec(raw.trim());
  if (m === null) throw new ParseFailure(accepted);
  const unit = m[2]?.toLowerCase() ?? (bare === 'KiB' ? 'kib' : 'b');
  const factor = SIZE_UNITS[unit];
  if (factor === undefined) throw new ParseFailure(accepted);
  const bytes = Math.round(Number(m[1]) * factor);
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new ParseFailure(accepted);
  return bytes;
}

/** Shortest exact binary spelling of a byte count ("10MiB", "512KiB"). */
export function formatSize(bytes: number): string {
  const units: [string, number][] = [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ];
  for (const [u, f] of units) if (bytes % f === 0) return `${bytes / f}${u}`;
  return `${bytes}B`;
}

const TRUE = new Set(['1', 'true', 'yes', 'on', 'y', 't']);
const FALSE = new Set(['0', 'false', 'no', 'off', 'n', 'f']);

export function parseBool(raw: string): boolean {
  const s = raw.trim().toLowerCase();
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  throw new ParseFailure('true/false, yes/no, on/off or 1/0');
}

/** Case-insensitive choice; `aliases` maps extra spellings (e.g. Celery's WARNING → warn). */
export function parseEnum(raw: string, choices: readonly string[], aliases: Record<string, string> = {}): string {
  const s = raw.trim().toLowerCase();
  const hit = choices.find((c) => c.toLowerCase() === s) ?? aliases[s];
  if (hit === undefined) throw new ParseFailure(`one of ${choices.join(', ')}`);
  return hit;
}

/** Comma-separated list; blanks dropped. Arrays (repeated flags) are flattened the same way. */
export function parseList(raw: string | readonly string[]): string[] {
  const parts = typeof raw === 'string' ? [raw] : raw;
  return parts
    .flatMap((p) => p.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function parseUrl(raw: string, protocols: readonly string[]): string {
  const s = raw.trim();
  const names = protocols.map((p) => `${p}//`);
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}` : names.join('');
  const accepted = `a URL starting with ${list}`;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new ParseFailure(accepted);
  }
  if (!protocols.includes(u.protocol)) throw new ParseFailure(accepted);
  // unix: sockets and rpc:// (results over the broker's own connection) name no host.
  if (u.hostname === '' && u.protocol !== 'unix:' && u.protocol !== 'rpc:')
    throw new ParseFailure(`${accepted} and a host`);
  return s;
}

const HOSTPORT_RE = /^(\[[0-9a-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/i;

export function parseHostPort(raw: string): string {
  const s = raw.trim();
  const m = HOSTPORT_RE.exec(s);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65535) throw new ParseFailure('host:port, e.g. 127.0.0.1:7233');
  return s;
}

/** Celery's --autoscale "max,min"; a missing min is 1 (Celery's is 0, but the pool never goes below one child). */
export function parseAutoscale(raw: string): { max: number; min: number } {
  const accepted = 'max,min with max >= min >= 1, e.g. 10,3';
  const parts = raw.split(',').map((s) => s.trim());
  if (parts.length < 1 || parts.length > 2) throw new ParseFailure(accepted);
  let max: number;
  let min: number;
  try {
    max = parseInt10(parts[0] ?? '', 1);
    min = parts[1] === undefined || parts[1] === '' ? 1 : parseInt10(parts[1], 1);
  } catch {
    throw new ParseFailure(accepted);
  }
  if (max < min) throw new ParseFailure(accepted);
  return { max, min };
}
