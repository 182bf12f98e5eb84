// The Node/V8 flags every child is forked with (--child-node-flags / TASK_CHILD_NODE_FLAGS), pure: the setting's
// space-separated words become execArgv; a word that is not a flag is named before anything starts.

/** The words of the setting, in order; none for null or blank. */
export function nodeFlagsOf(value: string | null | undefined): string[] {
  return (value ?? '').split(/\s+/).filter((w) => w !== '');
}

/** The first word that cannot be a node flag (flags start with "-"), or null. */
export function notAFlag(flags: readonly string[]): string | null {
  return flags.find((f) => !f.startsWith('-')) ?? null;
}

/** Flags for a child: the setting's, then the embedder's own (`deps.execArgv`, which win over the setting's). */
export function childExecArgv(setting: string | null | undefined, given: readonly string[]): string[] {
  return [...nodeFlagsOf(setting), ...given];
}
