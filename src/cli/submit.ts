// `task-backend-worker submit <name> [json-args...]`: send one task or workflow to the configured backend,
// print its id and, with --wait, its JSON result. A task failure exits non-zero with "<Type>: <message>"; a broker
// or server that cannot be reached is one line naming it and exit 69.
import { InvalidArgumentError, type Command } from 'commander';
import { createTaskClient, type ClientDeps } from '../client/index.js';
import { isBackendUnavailable } from '../client/unavailable.js';
import { whereSet } from '../config/errors.js';
import type { WorkerConfig } from '../config/types.js';
import { EXIT } from '../exit-codes.js';
import type { Registry } from '../tasks/registry.js';
import { commandRegistry } from './list-tasks.js';
import { CommandError } from './command-error.js';
import { commandIo } from './program.js';

interface SubmitFlags {
  kwargs?: Record<string, unknown>;
  queue?: string;
  countdown?: number;
  wait?: boolean;
  timeout?: number;
  anyName?: boolean;
}

/** A positional argument: JSON when it parses (5, "x", [1], {"a":1}, true, null), else the plain string. */
export function parseArg(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function parseKwargs(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError('must be a JSON object, e.g. \'{"operation": "count"}\'');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError('must be a JSON object');
  return v as Record<string, unknown>;
}

function parseSeconds(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError('must be a number of seconds >= 0');
  return n;
}

/**
 * A name this client does not know: say how to make it known. The task usually exists, in a module the worker
 * loads and this client was not told about; Celery's send_task would send it anyway, so --any-name does.
 */
export function unknownTaskMessage(name: string, registry: Registry, config: WorkerConfig): string {
  const anyway = 'or --any-name to send it anyway (the worker may know it)';
  if (config.taskModules.length === 0) {
    return (
      `unknown task "${name}": without --tasks this client knows only the built-in tasks; ` +
      `pass --tasks ./tasks.mjs (or TASK_MODULES) naming the module that defines it, ${anyway}`
    );
  }
  const known = registry.names();
  const shown = known.length > 12 ? `${known.slice(0, 12).join(', ')}, ...` : known.join(', ');
  return `unknown task "${name}": neither the built-ins nor ${config.taskModules.join(', ')} define it (known: ${shown || 'none'}); check the name, ${anyway}`;
}

/** The subcommand with its client seams (tests pass an in-process client). */
export function makeRegister(deps: Partial<ClientDeps> = {}): (program: Command) => void {
  return (program) => {
    program
      .command('submit')
      .description('submit a task or workflow by name and print its id (with --wait, its JSON result), then exit')
      .argument('<name>', 'task or workflow name (see list-tasks)')
      .argument('[json-args...]', 'positional arguments, each JSON (a bare word is a string)')
      .option('--kwargs <json>', 'keyword arguments as a JSON object', parseKwargs)
      .option('--queue <queue>', "queue to send to (default: the task's queue, else the backend default)")
      .option('--countdown <seconds>', 'run no earlier than this many seconds from now', parseSeconds)
      .option('--wait', 'wait for the result and print it as JSON; a task failure exits 1')
      .option('--timeout <seconds>', 'with --wait: give up after this many seconds (exit 1)', parseSeconds)
      .option('--any-name', 'send a name this client does not know (the worker may: Celery does not check either)')
      .action(async (name: string, jsonArgs: string[], flags: SubmitFlags, cmd: Command) => {
        const io = commandIo(cmd);
        const { config, sources, registry } = await commandRegistry(cmd);
        if (!registry.has(name) && flags.anyName !== true) {
          throw new CommandError(unknownTaskMessage(name, registry, config), EXIT.USAGE);
        }
        const client = createTaskClient(config, { ...deps, loadRegistry: () => Promise.resolve(registry) });
        try {
          const { id } = await client.submit(name, {
            args: jsonArgs.map(parseArg),
            ...(flags.kwargs !== undefined ? { kwargs: flags.kwargs } : {}),
            ...(flags.queue !== undefined ? { queue: flags.queue } : {}),
            ...(flags.countdown !== undefined ? { countdown: flags.countdown } : {}),
            ...(flags.anyName === true ? { anyName: true } : {}),
          });
          io.stdout(`${id}\n`);
          if (flags.wait !== true) return;
          let value: unknown;
          try {
            value = await client.result(id, flags.timeout !== undefined ? { timeout: flags.timeout } : {});
          } catch (err) {
            if (isBackendUnavailable(err)) throw err;
            const e = err as Error;
            // runCli prints this as one line and exits 1 (EXIT.FAILURE).
            throw new Error(`${name} ${id} failed: ${e.name}: ${e.message}`);
          }
          io.stdout(`${JSON.stringify(value ?? null)}\n`);
        } catch (err) {
          if (!isBackendUnavailable(err)) throw err;
          const source = (sources as Record<string, string | undefined>)[err.setting ?? ''];
          const set = err.setting !== undefined ? ` (set by ${whereSet(err.setting, source ?? 'default')})` : '';
          throw new CommandError(`${err.message}; is it running?${set}`, EXIT.UNAVAILABLE);
        } finally {
          await client.close();
        }
      });
  };
}

export const register = makeRegister();
