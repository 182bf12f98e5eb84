// Runs the CLI: parse → compile settings → preflight → runSupervisor, or a subcommand. Returns the exit code;
// every failure before the pool starts is ONE line on stderr (64 usage, 78 config). Seams are parameters.
import { existsSync } from 'node:fs';
import { CommanderError, type Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import type { WorkerConfig } from '../config/types.js';
import { EXIT } from '../exit-codes.js';
import type { BackendName } from '../tasks/types.js';
import { registerConfigCommand } from './config-command.js';
import { buildProgram, resolveCommand, type CliIo } from './program.js';

export interface CliDeps {
  runSupervisor: (config: WorkerConfig) => Promise<number>;
  /** Is there a built worker entry (dist/workers/<backend>.js) for this backend? */
  workerEntryExists: (backend: BackendName) => boolean;
  /** Load the task modules once in the supervisor, so a bad module fails with exit 78 before any child starts. */
  checkTasks: (config: WorkerConfig) => Promise<void>;
  /** Export env-file variables to this process (and so to the children), never overriding the environment. */
  applyEnv: (vars: Record<string, string>) => void;
  /** Subcommands written elsewhere (list-tasks, submit, status): each module exports register(program). */
  extraCommands: () => Promise<((program: Command) => void)[]>;
}

const PROG = 'task-backend-worker';

/** A module that is not there yet is skipped; a module that fails to load for any other reason is an error. */
async function importOptional(spec: string): Promise<Record<string, unknown> | null> {
  try {
    return (await import(spec)) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const base = spec.replace(/^.*\//, '').replace(/\.js$/, '');
    if ((e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && e.message.includes(base)) return null;
    throw err;
  }
}

// Variables keep TypeScript from resolving modules other engineers may not have written yet.
const SUPERVISOR_MODULE = '../supervisor/index.js';
const LOADER_MODULE = '../tasks/loader.js';
const OPTIONAL_COMMANDS = ['./list-tasks.js', './submit.js', './status.js'];

export const defaultDeps: CliDeps = {
  async runSupervisor(config) {
    const mod = await importOptional(SUPERVISOR_MODULE);
    if (mod === null || typeof mod.runSupervisor !== 'function') throw new Error('the supervisor is not built (src/supervisor/index.ts)');
    return (mod.runSupervisor as CliDeps['runSupervisor'])(config);
  },
  workerEntryExists(backend) {
    return ['js', 'ts'].some((ext) => existsSync(new URL(`../../workers/${backend}.${ext}`, import.meta.url)));
  },
  async checkTasks(config) {
    const mod = await importOptional(LOADER_MODULE);
    if (mod === null || typeof mod.loadRegistry !== 'function') return;
    await (mod.loadRegistry as (c: WorkerConfig) => Promise<unknown>)(config);
  },
  applyEnv(vars) {
    for (const [k, v] of Object.entries(vars)) if (process.env[k] === undefined) process.env[k] = v;
  },
  async extraCommands() {
    const mods = await Promise.all(OPTIONAL_COMMANDS.map(importOptional));
    return mods.flatMap((m) => (m !== null && typeof m.register === 'function' ? [m.register as (p: Command) => void] : []));
  },
};

/** One line, no stack: what went wrong and how to see what is accepted. */
function oneLine(text: string): string {
  return text.replace(/^error:\s*/i, '').replace(/\s*\n\s*/g, ' ').trim();
}

export async function runCli(argv: readonly string[], io: CliIo, deps: Partial<CliDeps> = {}): Promise<number> {
  const d: CliDeps = { ...defaultDeps, ...deps };
  const program = buildProgram(io);
  let code: number | null = null;
  program.exitOverride().configureOutput({
    writeOut: io.stdout,
    writeErr: io.stderr,
    outputError: () => { /* reported once, as one line, below */ },
  });

  program.action(async () => {
    const { config, sources, envFile } = await resolveCommand(program);
    if (!d.workerEntryExists(config.backend)) {
      throw new ConfigError({
        setting: 'backend', source: sources.backend, value: config.backend, exitCode: EXIT.CONFIG,
        accepted: `a backend built into this install (no worker entry workers/${config.backend}.js)`,
      });
    }
    try {
      await d.checkTasks(config);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError({
        setting: 'taskModules', source: sources.taskModules, value: null, exitCode: EXIT.CONFIG,
        accepted: `loadable task modules (${oneLine((err as Error).message)})`,
      });
    }
    if (envFile !== null) d.applyEnv(envFile.vars);
    code = await d.runSupervisor(config);
  });
  registerConfigCommand(program);
  for (const register of await d.extraCommands()) register(program);

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code ?? EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.OK; // --help, --version
      io.stderr(`${PROG}: ${oneLine(err.message)} (see ${PROG} --help)\n`);
      return EXIT.USAGE;
    }
    if (err instanceof ConfigError) {
      io.stderr(`${PROG}: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr(`${PROG}: ${oneLine((err as Error).message ?? String(err))}\n`);
    return EXIT.FAILURE;
  }
}
