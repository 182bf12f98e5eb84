// The platform's split settings, composed into the URLs the settings table reads (the rows' `compose.build`):
// the broker URL from CELERY_BROKER_BASE_URL + USER + PASS, the database result URL from CELERY_BACKEND_DB_*.

/**
 * The platform's split broker URL: CELERY_BROKER_BASE_URL (`amqp://host:5672//`) with CELERY_BROKER_USER and
 * CELERY_BROKER_PASS spliced in, percent-encoded (a user part already in the base is replaced).
 */
export function spliceCredentials(base: string, user: string | undefined, pass: string | undefined): string {
  if (user === undefined && pass === undefined) return base;
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^/?#@]*@)?(.*)$/is.exec(base.trim());
  if (m === null) return base;
  const userinfo = `${encodeURIComponent(user ?? '')}${pass !== undefined ? `:${encodeURIComponent(pass)}` : ''}`;
  return `${m[1]}${userinfo}@${m[2]}`;
}

export const DB_PARTS = ['HOST', 'PORT', 'NAME', 'USER', 'PASSWORD', 'SCHEMA'] as const;

/**
 * The platform's workers build their result backend from CELERY_BACKEND_DB_* (each falling back to DB_*):
 * db+postgresql://USER:PASSWORD@HOST:PORT/NAME, with a schema as libpq's search_path option.
 */
export function databaseUrlFromParts(v: Record<string, string | undefined>): string {
  const part = (p: (typeof DB_PARTS)[number]): string | undefined => v[`CELERY_BACKEND_DB_${p}`] ?? v[`DB_${p}`];
  const user = part('USER') ?? 'postgres';
  const password = part('PASSWORD');
  const auth = encodeURIComponent(user) + (password !== undefined ? `:${encodeURIComponent(password)}` : '');
  const host = part('HOST') ?? 'localhost';
  const url = `db+postgresql://${auth}@${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${
    part('PORT') ?? '5432'
  }/${encodeURIComponent(part('NAME') ?? user)}`;
  const schema = v.CELERY_BACKEND_DB_SCHEMA;
  return schema === undefined ? url : `${url}?options=${encodeURIComponent(`-csearch_path=${schema}`)}`;
}
