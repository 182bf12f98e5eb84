// Build the registry a worker runs: the built-ins (unless disabled), then each user task module. Every problem
// becomes one TaskLoadError line naming the module, which the CLI turns into exit 78 before any child starts.
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_TASKS } from './builtins.js';
import { errorLocation } from './load-location.js';
import { defineTask, defineWorkflow } from './define.js';
import { Registry } from './registry.js';
import { importTaskModule } from './self-import.js';
import type { Definition, TaskDefinition, TaskStep, WorkflowDefinition } from './types.js';

export class TaskLoadError extends Error {
  override name = 'TaskLoadError';
  /** Where: `file:line:col` when the problem has a place in a file, else the module path. */
  readonly location: string;
  constructor(
    /** The module path (or "builtin"). */
    readonly module: string,
    /** What is wrong, one line. */
    readonly problem: string,
    location?: string,
  ) {
    super(`task module ${location ?? module}: ${problem}`);
    this.location = location ?? module;
  }
}

export interface LoadRegistryConfig {
  taskModules: string[];
  builtins: boolean;
}

/** Absolute path of a module given as a path (absolute or relative to cwd) or a file: URL. */
export function modulePath(spec: string): string {
  if (spec.startsWith('file:')) return fileURLToPath(spec);
  return isAbsolute(spec) ? spec : resolve(spec);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function looksLikeDefinition(v: unknown): v is { kind: unknown; name?: unknown } {
  return typeof v === 'object' && v !== null && 'kind' in v && (v.kind === 'task' || v.kind === 'workflow');
}

/**
 * Re-validate an exported definition through defineTask/defineWorkflow: it may be a hand-written object or come
 * from another copy of this package, and a broken one must fail here, not when a message arrives.
 */
function normalise(v: { kind: unknown }): Definition {
  if (v.kind === 'task') {
    const d = v as Partial<TaskDefinition>;
    return defineTask({
      name: d.name as string,
      run: d.run as TaskDefinition['run'],
      retries: d.retries,
      retryBackoff: d.retryBackoff,
      timeout: d.timeoutMs,
      queue: d.queue,
      description: d.description,
      // A definition made without checking stays so; a checked run() carries its signature with it.
      ...(d.signature === null ? { checkArgs: false } : {}),
    });
  }
  const w = v as Partial<WorkflowDefinition>;
  return defineWorkflow({
    name: w.name as string,
    steps: w.steps as WorkflowDefinition['steps'],
    queue: w.queue,
    description: w.description,
  });
}

/** The definitions a module namespace exports (deduplicated by identity: `export default [a]` plus `export {a}`). */
export function collectDefinitions(ns: Record<string, unknown>, module: string): Definition[] {
  const seen = new Set<unknown>();
  const out: Definition[] = [];
  const take = (v: unknown, where: string): void => {
    if (seen.has(v)) return;
    seen.add(v);
    try {
      out.push(normalise(v as { kind: unknown }));
    } catch (e) {
      throw new TaskLoadError(module, `export ${where} is not a valid definition: ${(e as Error).message}`);
    }
  };
  for (const [key, value] of Object.entries(ns)) {
    const where = key === 'default' ? 'default' : `"${key}"`;
    if (looksLikeDefinition(value)) take(value, where);
    else if (Array.isArray(value) && value.some(looksLikeDefinition)) {
      value.forEach((item, i) => {
        if (!looksLikeDefinition(item)) {
          throw new TaskLoadError(
            module,
            `export ${where}[${i}] is ${describe(item)}, not a task or workflow definition`,
          );
        }
        take(item, `${where}[${i}]`);
      });
    } else if (key === 'default') {
      // A default export is the module's statement of what it provides: it must be definitions.
      throw new TaskLoadError(
        module,
        `default export is ${describe(value)}; export a definition or an array of definitions (defineTask/defineWorkflow)`,
      );
    }
    // Other named exports (helpers, constants) are allowed and ignored.
  }
  if (out.length === 0) {
    throw new TaskLoadError(module, 'exports no task or workflow definitions (use defineTask/defineWorkflow)');
  }
  return out;
}

/** Pure: what to do about a TypeScript task module this Node cannot load. */
export function typeScriptHint(nodeVersion: string): string {
  return (
    `Node ${nodeVersion} cannot load TypeScript: use Node >= 22.18 (it strips types), or Node >= 22.6 with ` +
    `NODE_OPTIONS=--experimental-strip-types, or NODE_OPTIONS="--import tsx", or compile the module to .mjs`
  );
}

async function importModule(path: string): Promise<Record<string, unknown>> {
  try {
    const s = statSync(path);
    if (!s.isFile()) throw new TaskLoadError(path, 'is not a file');
  } catch (e) {
    if (e instanceof TaskLoadError) throw e;
    throw new TaskLoadError(path, 'file not found');
  }
  try {
    return await importTaskModule(path);
  } catch (e) {
    const err = e as Error & { code?: unknown };
    if (err?.code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[mc]?ts$/.test(path)) {
      throw new TaskLoadError(path, typeScriptHint(process.version));
    }
    const first = String(err?.message ?? err).split('\n')[0];
    // require() of this ESM-only package: the file was taken as CommonJS (a .ts/.js without "type": "module").
    const cjs = err?.code === 'MODULE_NOT_FOUND' && first?.includes("'task-backend-worker'");
    const hint = cjs
      ? ' (it was loaded as CommonJS: name it .mjs or .mts, or add "type": "module" to its package.json)'
      : '';
    const where = errorLocation(err, path) ?? undefined;
    throw new TaskLoadError(path, `failed to import: ${err?.name ?? 'Error'}: ${first}${hint}`, where);
  }
}

function stepTasks(wf: WorkflowDefinition): TaskStep[] {
  if (Array.isArray(wf.steps)) return wf.steps.flatMap((s) => ('parallel' in s ? s.parallel : [s]));
  return Object.values(wf.steps.dag);
}

/** Every workflow step must name a task (not a workflow) that the registry holds. */
export function checkWorkflowSteps(registry: Registry): void {
  for (const wf of registry.workflows()) {
    for (const step of stepTasks(wf)) {
      if (registry.task(step.task)) continue;
      const module = registry.origin(wf.name) ?? 'builtin';
      const what = registry.workflow(step.task) ? 'a workflow (steps must be tasks)' : 'an unknown task';
      throw new TaskLoadError(module, `workflow "${wf.name}" has a step naming ${what}: "${step.task}"`);
    }
  }
}

export async function loadRegistry(cfg: LoadRegistryConfig): Promise<Registry> {
  const registry = new Registry();
  if (cfg.builtins) for (const def of BUILTIN_TASKS) registry.add(def, 'builtin');
  for (const spec of cfg.taskModules) {
    const path = modulePath(spec);
    const ns = await importModule(path);
    for (const def of collectDefinitions(ns, path)) {
      try {
        registry.add(def, path);
      } catch (e) {
        throw new TaskLoadError(path, (e as Error).message);
      }
    }
  }
  checkWorkflowSteps(registry);
  return registry;
}
