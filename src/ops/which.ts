// Where an external program is: PATH, then fallback directories (a systemd unit or a root shell may have a short
// PATH; the project's Python venv carries the Temporal CLI).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first executable `name` in PATH, then in `extra`, or null. */
export function findExecutable(name: string, path: string | undefined, extra: readonly string[] = []): string | null {
  for (const dir of [...(path ?? '').split(delimiter), ...extra]) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}
