// A password in a URL given as a flag (`-b redis://:pw@host`) is readable by every user of the machine in `ps`
// and /proc/<pid>/cmdline. The worker warns once and rewrites its process title with the password masked (a
// brief window at start remains: the environment or the env file is the right place for it).
import { redactUrl } from '../config/redact.js';

/** argv with URL passwords masked, and the flags whose value carried one (for the warning). */
export function redactArgv(argv: readonly string[]): { argv: string[]; flags: string[] } {
  const flags: string[] = [];
  const out = argv.map((arg, i) => {
    const eq = arg.startsWith('-') ? arg.indexOf('=') : -1;
    const value = eq >= 0 ? arg.slice(eq + 1) : arg;
    const masked = redactUrl(value);
    if (masked === value) return arg;
    const prev = argv[i - 1];
    flags.push(eq >= 0 ? arg.slice(0, eq) : prev !== undefined && prev.startsWith('-') ? prev : 'an argument');
    return eq >= 0 ? `${arg.slice(0, eq + 1)}${masked}` : masked;
  });
  return { argv: out, flags };
}

/** The warning line for flags that carried a password; null when none did. */
export function secretFlagWarning(prog: string, flags: readonly string[]): string | null {
  if (flags.length === 0) return null;
  return (
    `${prog}: warning: ${[...new Set(flags)].join(', ')} carries a password, which other users can read in ps; ` +
    'set it in the environment (CELERY_BROKER_URL, CELERY_RESULT_BACKEND) or the env file (--env-file) instead\n'
  );
}

/** Mask the passwords in this process's title (what ps and /proc/<pid>/cmdline show). */
export function hideSecretArgs(
  proc: Pick<NodeJS.Process, 'argv' | 'execArgv' | 'title'>,
  masked: readonly string[],
): void {
  proc.title = ['node', ...proc.execArgv, proc.argv[1] ?? '', ...masked].join(' ');
}
