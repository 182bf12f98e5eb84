// Text of --help that commander does not generate: environment-only settings, signals and exit codes.
// All of it comes from the settings table and src/exit-codes.ts, so help cannot drift from the code.
import { defaultDoc, envDoc } from '../config/docs.js';
import { SETTINGS } from '../config/settings.js';
import { GROUP_TITLES, type Setting } from '../config/table-types.js';
import { EXIT } from '../exit-codes.js';

/** Description shown next to a flag: what it does, its env names and its default. */
export function flagHelp(row: Setting): string {
  return `${row.description} [env: ${envDoc(row)}] (default: ${defaultDoc(row)})`;
}

export const SIGNALS: readonly [string, string][] = [
  ['TERM, INT', 'warm shutdown: stop taking work, finish in-flight tasks until --shutdown-timeout, then cold'],
  ['TERM/INT again, QUIT', 'cold shutdown: cancel in-flight tasks, give them back to the broker, kill what is left'],
  ['HUP', 'rolling restart of the children, one at a time'],
  ['TTIN / TTOU', 'one child more / one child less (never below 1)'],
  ['USR2', 'log the pool status (logs go to stdout; the process manager owns the destination)'],
];

export const EXIT_CODE_DOCS: Record<keyof typeof EXIT, string> = {
  OK: 'clean shutdown',
  FAILURE: 'unexpected error in the supervisor',
  BOOT_FAILURE: 'children cannot boot (bad task module, bad credentials, ...): not worth restarting',
  CRASH_LOOP: 'gave up after repeated crashes within the crash window',
  USAGE: 'bad command line: unknown flag, bad flag value',
  UNAVAILABLE: 'submit / status only: the broker, server or running pool cannot be reached',
  CONFIG: 'bad configuration: environment or env file value, unreadable env file, task modules',
};

export function exitCodeRows(): [number, string][] {
  return (Object.keys(EXIT) as (keyof typeof EXIT)[]).map((k) => [EXIT[k], EXIT_CODE_DOCS[k]]);
}

function table(rows: readonly (readonly [string, string])[], indent = '  '): string {
  const w = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `${indent}${a.padEnd(w)}  ${b}`).join('\n');
}

export function afterHelp(): string {
  const envOnly = SETTINGS.filter((s) => s.flag === undefined);
  const groups = [...new Set(envOnly.map((s) => s.group))];
  const envSections = groups.map((g) => {
    const rows = envOnly
      .filter((s) => s.group === g)
      .map((s) => `    ${envDoc(s)}  (default: ${defaultDoc(s)})\n        ${s.description}`);
    return `  ${GROUP_TITLES[g]}:\n${rows.join('\n')}`;
  });
  return [
    '',
    'Every flag above can also be set in the environment or the env file (names in [env: ...]).',
    'Precedence: flag > environment > env file (--env-file, default ./.env) > default.',
    'Durations: 500ms, 30s, 2m, 1h (bare number = seconds). Sizes: 512MiB, 512MB, 1GiB (bare number = KiB for',
    'memory limits). Secrets (tokens, passwords in URLs) are never printed.',
    '',
    'Environment-only settings:',
    ...envSections,
    '',
    'Signals (to the supervisor):',
    table(SIGNALS),
    '',
    'Exit codes:',
    table(exitCodeRows().map(([c, d]) => [String(c), d])),
    '',
  ].join('\n');
}
