// `task-backend-worker submit <name> [json-args...]`: send one task or workflow to the configured backend,
// print its id and, with --wait, its JSON result. A task failure exits non-zero with "<Type>: <message>".
import { InvalidArgumentError, type Command } from 'commander';
import { createTaskClient, type ClientDeps } from '../client/index.js';
import { UnknownTaskError } from '../tasks/errors.js';
import { EXIT } from '../exit-codes.js';
import { commandRegistry } from './list-tasks.js';
import { commandIo } from './program.js';

interface SubmitFlags {
  kwargs?: Record<string, unknown>;
  queue?: string;
  countdown?: number;
  wait?: boolean;
  timeout?: number;
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
      .action(async (name: string, jsonArgs: string[], flags: SubmitFlags, cmd: Command) => {
        const io = commandIo(cmd);
        const { config, registry } = await commandRegistry(cmd);
        if (!registry.has(name)) {
          cmd.error(new UnknownTaskError(name, registry.names()).message, {
            exitCode: EXIT.USAGE,
            code: 'tbw.unknownTask',
          });
        }
        const client = createTaskClient(config, { ...deps, loadRegistry: () => Promise.resolve(registry) });
        try {
          const { id } = await client.submit(name, {
            args: jsonArgs.map(parseArg),
            ...(flags.kwargs !== undefined ? { kwargs: flags.kwargs } : {}),
            ...(flags.queue !== undefined ? { queue: flags.queue } : {}),
            ...(flags.countdown !== undefined ? { countdown: flags.countdown } : {}),
          });
          io.stdout(`${id}\n`);
          if (flags.wait !== true) return;
          let value: unknown;
          try {
            value = await client.result(id, flags.timeout !== undefined ? { timeout: flags.timeout } : {});
          } catch (err) {
            const e = err as Error;
            // runCli prints this as one line and exits 1 (EXIT.FAILURE).
            throw new Error(`${name} ${id} failed: ${e.name}: ${e.message}`);
          }
          io.stdout(`${JSON.stringify(value ?? null)}\n`);
        } finally {
          await client.close();
        }
      });
  };
}

export const register = makeRegister();
