// `task-backend-worker list-tasks [--json]`: the registry a worker with these settings would run (built-ins
// plus --tasks modules), so users can see names, queues and limits without starting a pool.
import type { Command } from 'commander';
import type { CompiledSettings } from '../config/compile.js';
import type { WorkerConfig } from '../config/types.js';
import { loadRegistry } from '../tasks/loader.js';
import type { Registry } from '../tasks/registry.js';
import type { Definition } from '../tasks/types.js';
import { commandIo, resolveCommand } from './program.js';
import { taskModulesError } from './task-modules-error.js';

/** Settings + registry for a subcommand; a bad task module is a config error (exit 78), as for the worker. */
export async function commandRegistry(
  cmd: Command,
  opts: { requireCredentials?: boolean } = {},
): Promise<{ config: WorkerConfig; sources: CompiledSettings['sources']; registry: Registry }> {
  const { config, sources } = await resolveCommand(cmd, opts);
  try {
    const registry = await loadRegistry({ taskModules: config.taskModules, builtins: config.builtins });
    return { config, sources, registry };
  } catch (err) {
    throw taskModulesError(err, sources.taskModules, config.taskModules);
  }
}

export interface TaskRow {
  name: string;
  kind: 'task' | 'workflow';
  queue: string | null;
  retries: number | null;
  timeoutMs: number | null;
  description: string | null;
  /** "builtin" or the module path. */
  origin: string;
}

export function taskRows(registry: Registry): TaskRow[] {
  return registry.names().map((name) => {
    const d = registry.get(name) as Definition;
    return {
      name,
      kind: d.kind,
      queue: d.queue ?? null,
      retries: d.kind === 'task' ? d.retries : null,
      timeoutMs: d.kind === 'task' ? (d.timeoutMs ?? null) : null,
      description: d.description ?? null,
      origin: registry.origin(name) ?? 'builtin',
    };
  });
}

/** Fixed-width table; "-" = not set (default queue, no time limit). */
export function formatTaskTable(rows: TaskRow[]): string {
  const head = ['NAME', 'KIND', 'QUEUE', 'RETRIES', 'TIMEOUT', 'DESCRIPTION'];
  const cells = rows.map((r) => [
    r.name,
    r.kind,
    r.queue ?? '-',
    r.retries === null ? '-' : String(r.retries),
    r.timeoutMs === null ? '-' : `${r.timeoutMs / 1000}s`,
    r.description ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]): string =>
    c
      .map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(head), ...cells.map(line)].join('\n') + '\n';
}

export function register(program: Command): void {
  program
    .command('list-tasks')
    .description('print the tasks and workflows a worker with these settings would run, then exit')
    .option('--json', 'print them as a JSON array')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const io = commandIo(cmd);
      // Listing must work before credentials are in place.
      const { registry } = await commandRegistry(cmd, { requireCredentials: false });
      const rows = taskRows(registry);
      io.stdout(opts.json === true ? `${JSON.stringify(rows, null, 2)}\n` : formatTaskTable(rows));
    });
}
