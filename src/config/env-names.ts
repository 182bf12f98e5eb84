// Typos in setting names: an unknown name under this project's prefixes (CELERY_BROKER_ULR, TASK_WORKER_CONCURENCY)
// would otherwise be silently ignored while the worker runs on defaults. Pure: the CLI prints the warnings, or
// refuses to start with --strict-env. Known = the settings table + KNOWN_IGNORED below (extend it there).
import { SETTINGS } from './settings.js';

/** Environment names under these prefixes are this project's: an unknown one is reported. */
export const CHECKED_PREFIXES: readonly string[] = ['TASK_', 'CELERY_', 'TEMPORAL_', 'HATCHET_'];

/**
 * Names that are not settings of this worker but are not typos either, with why (docs/cli.md lists them too; a
 * unit test keeps the two in step). Names that become settings move to the table; a duplicate here is harmless.
 */
export const KNOWN_IGNORED: readonly { names: readonly string[]; why: string }[] = [
  { names: ['TASK_ENV_FILE'], why: 'the env file to read (--env-file)' },
  {
    names: [
      'HATCHET_CLIENT_TLS_CERT_FILE',
      'HATCHET_CLIENT_TLS_KEY_FILE',
      'HATCHET_CLIENT_TLS_ROOT_CA_FILE',
      'HATCHET_CLIENT_TLS_SERVER_NAME',
      'HATCHET_CLIENT_LOG_LEVEL',
      'HATCHET_CLIENT_GRPC_MAX_RECV_MESSAGE_LENGTH',
      'HATCHET_CLIENT_GRPC_MAX_SEND_MESSAGE_LENGTH',
      'HATCHET_CLIENT_WORKER_HEALTHCHECK_ENABLED',
      'HATCHET_CLIENT_WORKER_HEALTHCHECK_PORT',
      'HATCHET_CLIENT_RETRIER_INITIAL_INTERVAL',
      'HATCHET_CLIENT_RETRIER_MAX_ATTEMPTS',
      'HATCHET_CLIENT_RETRIER_MAX_JITTER',
    ],
    why: 'read by the Hatchet SDK itself in the hatchet children',
  },
  { names: ['TEMPORAL_DEBUG'], why: 'read by the Temporal SDK itself (workflow debug mode)' },
];

/** Every name this worker knows: the settings table (with aliases and composed names) and KNOWN_IGNORED. */
export function knownEnvNames(): Set<string> {
  const out = new Set<string>();
  for (const row of SETTINGS) {
    for (const n of row.env) out.add(n);
    for (const n of row.compose?.env ?? []) out.add(n);
  }
  for (const group of KNOWN_IGNORED) for (const n of group.names) out.add(n);
  return out;
}

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions (ULR → URL is 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(
        ((d[i - 1] as number[])[j] as number) + 1,
        (row[j - 1] as number) + 1,
        ((d[i - 1] as number[])[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = v;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** The known name closest to `name`, when it is close enough to be a typo of it (else null). */
export function closestName(name: string, known: Iterable<string>): string | null {
  const limit = Math.max(2, Math.floor(name.length / 4));
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(name.toUpperCase(), k);
    if (dist < bestD) {
      best = k;
      bestD = dist;
    }
  }
  return bestD <= limit ? best : null;
}

export interface UnknownEnvName {
  name: string;
  /** 'the environment' or 'env file PATH'. */
  where: string;
  /** The closest known name, or null. */
  suggestion: string | null;
}

/**
 * Unknown names: in the environment, those under CHECKED_PREFIXES; in the env file also any name that is a near
 * miss of a known one (CELRY_BROKER_URL), since the file exists to configure this worker. Other names (a task
 * module's DATABASE_URL, PATH) are never reported.
 */
export function unknownEnvNames(
  env: Record<string, string | undefined>,
  envFile: { path: string; vars: Record<string, string> } | null,
  known: Set<string> = knownEnvNames(),
): UnknownEnvName[] {
  const out: UnknownEnvName[] = [];
  const ours = (n: string): boolean => CHECKED_PREFIXES.some((p) => n.toUpperCase().startsWith(p));
  if (envFile !== null) {
    for (const name of Object.keys(envFile.vars)) {
      if (known.has(name)) continue;
      const suggestion = closestName(name, known);
      if (ours(name) || suggestion !== null) out.push({ name, where: `env file ${envFile.path}`, suggestion });
    }
  }
  for (const name of Object.keys(env).sort()) {
    if (known.has(name) || !ours(name) || env[name] === undefined) continue;
    out.push({ name, where: 'the environment', suggestion: closestName(name, known) });
  }
  return out;
}

/** The words every command uses for one unknown name: the warning, or (short) an item of the --strict-env error. */
export function describeUnknown(u: UnknownEnvName, short = false): string {
  const hint = u.suggestion !== null ? `did you mean ${u.suggestion}?` : 'no setting has a similar name';
  return short
    ? `${u.name} in ${u.where} (${hint})`
    : `${u.name} in ${u.where} is not a setting and is ignored; ${hint}`;
}
