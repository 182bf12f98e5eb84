// The one line every command prints for task modules that do not load (worker, list-tasks, submit, dev):
// `task module /srv/tasks.mjs:3:7 (from --tasks): failed to import: SyntaxError: Unexpected identifier 'x'`.
import { ConfigError, whereSet } from '../config/errors.js';
import { EXIT } from '../exit-codes.js';
import { TaskLoadError } from '../tasks/loader.js';

/** A task-module failure as a ConfigError (exit 78) naming the file, line and column when known. */
export function taskModulesError(err: unknown, source: string, modules: readonly string[]): ConfigError {
  const from = whereSet('taskModules', source);
  const message =
    err instanceof TaskLoadError
      ? `task module ${err.location} (from ${from}): ${err.problem}`
      : `task modules ${modules.join(', ')} (from ${from}) did not load: ${oneLine(err)}`;
  return new ConfigError({
    setting: 'taskModules',
    source,
    value: modules.join(','),
    accepted: 'loadable task modules',
    exitCode: EXIT.CONFIG,
    message,
  });
}

function oneLine(err: unknown): string {
  const e = err as Error;
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(err);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
