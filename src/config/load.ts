// The IO edge of settings: facts about this machine and reading the env file. compile.ts stays pure.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './errors.js';
import { EnvFileError, parseEnvFile } from './envfile.js';
import type { EnvFileInput } from './compile.js';
import type { HostInfo } from './table-types.js';

export function currentHost(env: Record<string, string | undefined> = process.env): HostInfo {
  const runtimeDir = env.XDG_RUNTIME_DIR;
  return {
    hostname: os.hostname(),
    cpuCount: os.availableParallelism(),
    stdoutIsTTY: process.stdout.isTTY === true,
    cwd: process.cwd(),
    tmpdir: os.tmpdir(),
    runtimeDir: runtimeDir !== undefined && runtimeDir !== '' ? runtimeDir : null,
    uid: typeof process.getuid === 'function' ? process.getuid() : null,
  };
}

export const DEFAULT_ENV_FILE = '.env';

/** Environment alternative to --env-file (Node 20 itself inspects any --env-file argument, see docs/cli.md). */
export const ENV_FILE_VAR = 'TASK_ENV_FILE';

/**
 * Read the env file. `given` is --env-file or TASK_ENV_FILE with its source (undefined = not given: use ./.env
 * when it exists). A given file that cannot be read, or any file that does not parse, is a config error (exit 78).
 */
export async function readEnvFile(
  given: { path: string; source: string } | undefined,
  cwd: string,
  read: (p: string) => Promise<string> = async (p) => readFileSync(p, 'utf8'),
): Promise<EnvFileInput | null> {
  const shownPath = given?.path ?? DEFAULT_ENV_FILE;
  const source = given?.source ?? 'default';
  let text: string;
  try {
    text = await read(path.resolve(cwd, shownPath));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (given === undefined && code === 'ENOENT') return null;
    throw new ConfigError({
      setting: 'env-file',
      source,
      value: shownPath,
      exitCode: 78,
      accepted: `a readable env file (${code ?? (err as Error).message})`,
    });
  }
  try {
    return { path: shownPath, vars: parseEnvFile(text) };
  } catch (err) {
    if (!(err instanceof EnvFileError)) throw err;
    throw new ConfigError({
      setting: 'env-file',
      source,
      value: shownPath,
      exitCode: 78,
      accepted: `KEY=VALUE lines (line ${err.line}: ${err.problem})`,
    });
  }
}
