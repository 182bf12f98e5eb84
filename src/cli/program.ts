// The commander program: every settings-table row with a flag becomes an option on the root command, so the
// worker (default command) and every subcommand read the same flags. Subcommands get their config through
// `commandConfig(cmd)`, which applies the env file, the environment and the defaults exactly like the worker.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { checkBackendSettings } from '../backends/registry.js';
import { compileSettings, type CompiledSettings, type FlagValue } from '../config/compile.js';
import type { EnvFileInput } from '../config/compile.js';
import { describeUnknown, unknownEnvNames, type UnknownEnvName } from '../config/env-names.js';
import { ConfigError, settingName, sourceNote } from '../config/errors.js';
import { ENV_FILE_VAR, readEnvFile } from '../config/load.js';
import { EXIT } from '../exit-codes.js';
import { SETTINGS } from '../config/settings.js';
import type { ConfigKey, HostInfo } from '../config/table-types.js';
import { afterHelp, flagHelp } from './help.js';

/** Everything the CLI touches outside itself; tests pass their own. */
export interface CliIo {
  env: Record<string, string | undefined>;
  host: HostInfo;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readFile?: (path: string) => Promise<string>;
}

export interface ResolvedCommand extends CompiledSettings {
  envFile: EnvFileInput | null;
}

const IO = new WeakMap<Command, CliIo>();

export function packageVersion(): string {
  // Walk up from this module (src/cli or dist/src/cli) to our package.json.
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'task-backend-worker' && pkg.version !== undefined) return pkg.version;
    } catch {
      // try the next level
    }
  }
  return '0.0.0';
}

function collect(value: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), value];
}

/** Commander attribute name of each setting flag, e.g. "celery.brokerUrl" → "broker". */
export const FLAG_ATTRIBUTES: ReadonlyMap<ConfigKey, string> = new Map(
  SETTINGS.filter((s) => s.flag !== undefined).map((s) => [s.key, new Option(s.flag as string).attributeName()]),
);

export function buildProgram(io: CliIo): Command {
  const program = new Command('task-backend-worker');
  IO.set(program, io);
  program
    .description(
      'Prefork worker: one supervisor, N child processes running tasks from Celery (Redis), Temporal or Hatchet.',
    )
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help (all settings, signals, exit codes) and exit')
    .option(
      '--env-file <path>',
      `read settings from this env file [env: ${ENV_FILE_VAR}] (default: ./.env when it exists)`,
    )
    // Node 20 claims any `--env-file` argument itself (exit 9) when this CLI is started by node directly (pm2,
    // `node dist/src/cli/main.js`, some npx set-ups); `--env` is never Node's.
    .option('--env <path>', 'the same as --env-file, a name Node never takes for itself (npx, node directly)')
    .allowExcessArguments(false)
    .showSuggestionAfterError(true)
    .addHelpText('after', afterHelp());
  for (const row of SETTINGS) {
    if (row.flag === undefined) continue;
    const opt = new Option(row.flag, flagHelp(row));
    if (row.key === 'taskModules') opt.argParser(collect);
    program.addOption(opt);
  }
  return program;
}

/** The flags the user actually typed (not commander's implicit defaults such as --no-builtins' true). */
function typedFlags(root: Command): Partial<Record<ConfigKey, FlagValue>> {
  const opts = root.opts<Record<string, unknown>>();
  const flags: Partial<Record<ConfigKey, FlagValue>> = {};
  for (const [key, attr] of FLAG_ATTRIBUTES) {
    if (root.getOptionValueSource(attr) !== 'cli') continue;
    const v = opts[attr];
    if (typeof v === 'string' || typeof v === 'boolean' || Array.isArray(v)) flags[key] = v as FlagValue;
  }
  return flags;
}

function rootOf(cmd: Command): Command {
  let c = cmd;
  while (c.parent !== null) c = c.parent;
  return c;
}

/** Set by the bin launcher for a command-line `--env-file` (internal; not a setting). */
export const LAUNCHER_ENV_FILE_VAR = 'TBW_ENV_FILE_FLAG';

/** Compile the settings for the command being run: flags + environment + env file + defaults. Throws ConfigError. */
export async function resolveCommand(
  cmd: Command,
  opts: { requireCredentials?: boolean } = {},
): Promise<ResolvedCommand> {
  const root = rootOf(cmd);
  const io = IO.get(root);
  if (io === undefined) throw new Error('resolveCommand: command was not built by buildProgram');
  // bin/task-backend-worker hands `--env-file` over as TBW_ENV_FILE_FLAG (Node 20 would take the flag itself).
  const launcherFlag = io.env[LAUNCHER_ENV_FILE_VAR];
  const rootOpts = root.opts<{ envFile?: string; env?: string }>();
  const flagPath = rootOpts.envFile ?? (launcherFlag !== undefined && launcherFlag !== '' ? launcherFlag : undefined);
  const flag = flagPath !== undefined ? 'flag --env-file' : 'flag --env';
  const envPath = io.env[ENV_FILE_VAR];
  const given =
    (flagPath ?? rootOpts.env) !== undefined
      ? { path: (flagPath ?? rootOpts.env) as string, source: flag }
      : envPath !== undefined && envPath !== ''
        ? { path: envPath, source: `env ${ENV_FILE_VAR}` }
        : undefined;
  const envFile = await readEnvFile(given, io.host.cwd, io.readFile);
  const unknown = unknownEnvNames(io.env, envFile);
  const warn = (): void => {
    for (const u of unknown) io.stderr(`task-backend-worker: warning: ${describeUnknown(u)}\n`);
  };
  let compiled: CompiledSettings;
  try {
    compiled = compileSettings({
      flags: typedFlags(root),
      env: io.env,
      envFile,
      host: io.host,
      requireCredentials: opts.requireCredentials ?? true,
      check: checkBackendSettings,
    });
  } catch (err) {
    warn(); // a typo may be why a value is missing or wrong: say it before the error
    throw err;
  }
  if (compiled.config.strictEnv === true && unknown.length > 0) throw strictEnvError(unknown, compiled.sources);
  warn();
  return { ...compiled, envFile };
}

/** --strict-env: every unknown name in one line, exit 78. */
function strictEnvError(unknown: UnknownEnvName[], sources: CompiledSettings['sources']): ConfigError {
  const source = sources.strictEnv ?? 'default';
  const list = unknown.map((u) => describeUnknown(u, true)).join(', ');
  const by = `${settingName('strictEnv', source)}${sourceNote('strictEnv', source)}`;
  const message = `unknown names refused by ${by}: ${list}`;
  return new ConfigError({
    setting: 'strictEnv',
    source,
    value: null,
    accepted: 'only known names',
    exitCode: EXIT.CONFIG,
    message,
  });
}

/** For subcommands (list-tasks, submit, status): the WorkerConfig the worker would run with. */
export async function commandConfig(cmd: Command, opts: { requireCredentials?: boolean } = {}) {
  return (await resolveCommand(cmd, opts)).config;
}

/** The I/O the program was built with (subcommands print through it). */
export function commandIo(cmd: Command): CliIo {
  const io = IO.get(rootOf(cmd));
  if (io === undefined) throw new Error('commandIo: command was not built by buildProgram');
  return io;
}
