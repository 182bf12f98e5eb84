// The registry: every task and workflow this worker can run, by name. Built once per process, read-only after.
import type { Definition, TaskDefinition, WorkflowDefinition } from './types.js';

export class Registry {
  readonly #defs = new Map<string, Definition>();
  readonly #origin = new Map<string, string>();

  /** Add a definition; `origin` (a module path or "builtin") names where a duplicate came from. */
  add(def: Definition, origin = 'builtin'): this {
    const prev = this.#origin.get(def.name);
    if (prev !== undefined) {
      throw new Error(`duplicate task name "${def.name}" (from ${origin}; already defined by ${prev})`);
    }
    this.#defs.set(def.name, def);
    this.#origin.set(def.name, origin);
    return this;
  }

  get(name: string): Definition | undefined {
    return this.#defs.get(name);
  }

  task(name: string): TaskDefinition | undefined {
    const d = this.#defs.get(name);
    return d?.kind === 'task' ? d : undefined;
  }

  workflow(name: string): WorkflowDefinition | undefined {
    const d = this.#defs.get(name);
    return d?.kind === 'workflow' ? d : undefined;
  }

  has(name: string): boolean {
    return this.#defs.has(name);
  }

  names(): string[] {
    return [...this.#defs.keys()].sort();
  }

  tasks(): TaskDefinition[] {
    return [...this.#defs.values()].filter((d): d is TaskDefinition => d.kind === 'task');
  }

  workflows(): WorkflowDefinition[] {
    return [...this.#defs.values()].filter((d): d is WorkflowDefinition => d.kind === 'workflow');
  }

  origin(name: string): string | undefined {
    return this.#origin.get(name);
  }
}
