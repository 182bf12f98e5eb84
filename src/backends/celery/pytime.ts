// Times as a Python Celery worker writes them in events and inspect replies: datetime.isoformat() of an aware UTC
// datetime (`2026-01-02T03:04:05.123456+00:00`, the fraction left out when it is zero) and time.time() floats with
// microseconds. Pure.

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** The microseconds a message's own time string carries (`...05.123456Z` → 123456), when it is in UTC. */
function microsOf(raw: unknown): number | null {
  if (typeof raw !== 'string') return null;
  const m = /T\d\d:\d\d:\d\d(?:\.(\d+))?(Z|[+-]00:?00)?$/.exec(raw);
  if (m === null || m[2] === undefined) return null;
  return Number((m[1] ?? '').padEnd(6, '0').slice(0, 6));
}

/**
 * Python's isoformat() of the UTC instant `ms`; `raw` is the text the time came from, whose microseconds are kept
 * (a JavaScript Date holds milliseconds only).
 */
export function pyIsoformat(ms: number, raw?: unknown): string {
  const d = new Date(ms);
  const micros = microsOf(raw) ?? d.getUTCMilliseconds() * 1000;
  const base =
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${base}${micros === 0 ? '' : `.${pad(micros, 6)}`}+00:00`;
}

/** time.time(): epoch seconds with microseconds. */
export function epochSeconds(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000) / 1e6;
}
