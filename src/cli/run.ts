// Runs the CLI: parse → compile settings → preflight → runSupervisor, or a subcommand. Returns the exit code;
// every failure before the pool starts is ONE line on stderr (64 usage, 78 config). Seams are parameters.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CommanderError, type Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { nodeFlagsOf, notAFlag } from '../config/node-flags.js';
import type { WorkerConfig } from '../config/types.js';
import { EXIT } from '../exit-codes.js';
import type { BackendName } from '../config/types.js';
import { registerConfigCommand } from './config-command.js';
import { buildProgram, resolveCommand, type CliIo } from './program.js';
import { redactArgv, secretFlagWarning } from './secret-args.js';
import { taskModulesError } from './task-modules-error.js';

export interface CliDeps {
  runSupervisor: (config: WorkerConfig) => Promise<number>;
  /** Is there a built worker entry (dist/workers/<backend>.js) for this backend? */
  workerEntryExists: (backend: BackendName) => boolean | Promise<boolean>;
  /** Null when the backend's SDK packages (optional peer dependencies) are installed, else the one-line reason. */
  missingSdk: (backend: BackendName, source: string) => string | null | Promise<string | null>;
  /** Load the task modules once in the supervisor, so a bad module fails with exit 78 before any child starts. */
  checkTasks: (config: WorkerConfig) => Promise<void>;
  /** Null when node starts with these flags, else what node said (its first line). */
  checkNodeFlags: (flags: readonly string[]) => string | null;
  /** Export env-file variables to this process (and so to the children), never overriding the environment. */
  applyEnv: (vars: Record<string, string>) => void;
  /**
   * Subcommands written elsewhere (list-tasks, submit, status, dev): each module exports register(program).
   * Given the argv, so the default loads them only when one may be meant (see wantsSubcommands).
   */
  extraCommands: (argv: readonly string[]) => Promise<((program: Command) => void)[]>;
}

/** The subcommands of extraCommands' default (a unit test checks this list against what they register). */
export const SUBCOMMANDS = ['list-tasks', 'submit', 'status', 'dev'] as const;

/**
 * Whether argv may name a subcommand or ask for help (which lists them). Running the pool — the long-lived
 * process — then never loads the client, submit, status and dev modules: ~2 MB less resident memory in the
 * supervisor. A false positive (a queue named `status`) only costs that memory.
 */
export function wantsSubcommands(argv: readonly string[]): boolean {
  return argv.some(
    (a) => a === '-h' || a === '--help' || a === 'help' || (SUBCOMMANDS as readonly string[]).includes(a),
  );
}

const PROG = 'task-backend-worker';

// Loaded only when the worker runs, so --help, config and the client subcommands stay fast.
export const defaultDeps: CliDeps = {
  async runSupervisor(config) {
    // The ops pool runner wraps runSupervisor with the control socket, metrics and systemd notifications.
    const { runPool } = await import('../ops/pool.js');
    return runPool(config);
  },
  async workerEntryExists(backend) {
    // The registry's entry (dist/workers/<backend>.js of this package), checked before anything starts.
    const { workerEntryPath } = await import('../backends/registry.js');
    return existsSync(workerEntryPath(backend));
  },
  async missingSdk(backend, source) {
    return (await import('../backends/sdk.js')).missingSdk(backend, source);
  },
  async checkTasks(config) {
    const { loadRegistry } = await import('../tasks/loader.js');
    await loadRegistry({ taskModules: config.taskModules, builtins: config.builtins });
  },
  checkNodeFlags(flags) {
    const r = spawnSync(process.execPath, [...flags, '-e', ''], { encoding: 'utf8', timeout: 30_000 });
    if (r.status === 0) return null;
    const said = (r.stderr ?? '').split('\n').find((l) => l.trim() !== '');
    return said?.trim() ?? `node exited with ${r.status ?? r.signal ?? r.error?.message ?? 'an error'}`;
  },
  applyEnv(vars) {
    for (const [k, v] of Object.entries(vars)) if (process.env[k] === undefined) process.env[k] = v;
  },
  async extraCommands(argv) {
    if (!wantsSubcommands(argv)) return [];
    const [listTasks, submit, status, dev] = await Promise.all([
      import('./list-tasks.js'),
      import('./submit.js'),
      import('./status.js'),
      import('./dev.js'),
    ]);
    return [listTasks.register, submit.register, status.register, dev.register];
  },
};

function checkChildNodeFlags(config: WorkerConfig, source: string, d: CliDeps): void {
  const flags = nodeFlagsOf(config.childNodeFlags);
  const word = notAFlag(flags);
  const said = word !== null ? `${JSON.stringify(word)} is not a flag` : d.checkNodeFlags(flags);
  if (said === null) return;
  throw new ConfigError({
    setting: 'childNodeFlags',
    source,
    value: config.childNodeFlags ?? '',
    accepted: `flags node accepts, space-separated (${said})`,
  });
}

/** An error that says which exit code it means (ConfigError, CommandError). */
function hasExitCode(err: unknown): err is Error & { exitCode: number } {
  return err instanceof Error && typeof (err as { exitCode?: unknown }).exitCode === 'number';
}

/** One line, no stack: what went wrong and how to see what is accepted. */
function oneLine(text: string): string {
  return text
    .replace(/^error:\s*/i, '')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

export async function runCli(argv: readonly string[], io: CliIo, deps: Partial<CliDeps> = {}): Promise<number> {
  const d: CliDeps = { ...defaultDeps, ...deps };
  const program = buildProgram(io);
  let code: number | null = null;
  program.exitOverride().configureOutput({
    writeOut: io.stdout,
    writeErr: io.stderr,
    outputError: () => {
      /* reported once, as one line, below */
    },
  });

  program.action(async () => {
    const { config, sources, envFile } = await resolveCommand(program);
    // Before the task check: task modules may read their own settings from the env file at import time.
    if (envFile !== null) d.applyEnv(envFile.vars);
    if (!(await d.workerEntryExists(config.backend))) {
      throw new ConfigError({
        setting: 'backend',
        source: sources.backend,
        value: config.backend,
        exitCode: EXIT.CONFIG,
        accepted: `a backend built into this install (no worker entry workers/${config.backend}.js)`,
      });
    }
    const sdk = await d.missingSdk(config.backend, sources.backend);
    if (sdk !== null) {
      io.stderr(`${PROG}: ${sdk}\n`);
      code = EXIT.CONFIG;
      return;
    }
    try {
      await d.checkTasks(config);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw taskModulesError(err, sources.taskModules, config.taskModules);
    }
    // A value the user gave: node must accept it, or every child would fail at boot (the default is known good).
    if (sources.childNodeFlags !== 'default') checkChildNodeFlags(config, sources.childNodeFlags, d);
    const warning = secretFlagWarning(PROG, redactArgv(argv).flags);
    if (warning !== null) io.stderr(warning);
    code = await d.runSupervisor(config);
  });
  registerConfigCommand(program);
  for (const register of await d.extraCommands(argv)) register(program);

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code ?? EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.OK; // --help, --version
      const message =
        err.code === 'commander.excessArguments'
          ? `unknown command or argument ${JSON.stringify(program.args[0] ?? '')}`
          : oneLine(err.message);
      io.stderr(`${PROG}: ${message} (see ${PROG} --help)\n`);
      return EXIT.USAGE;
    }
    if (err instanceof ConfigError || hasExitCode(err)) {
      // A subcommand's own refusal (submit: unknown task 64, unreachable broker 69; status: no pool 69).
      io.stderr(`${PROG}: ${oneLine(err.message)}\n`);
      return err.exitCode;
    }
    io.stderr(`${PROG}: ${oneLine((err as Error).message ?? String(err))}\n`);
    return EXIT.FAILURE;
  }
}
