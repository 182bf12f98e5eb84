// Where a task module failed to load, as `file:line:col`: read from the error's stack (a throw while the module
// runs, a missing export), else, for a syntax error (whose stack names no place in Node 20), from
// `node --check`, which prints the file, line and a caret under the column. Runs only when a module failed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The first stack frame in user code: not Node's internals, not a dependency under node_modules. */
function frameLocation(stack: string): string | null {
  for (const line of stack.split('\n')) {
    const m = /^\s+at (?:.*? \()?((?:file:\/\/)?\/[^()\s]*?):(\d+):(\d+)\)?$/.exec(line);
    if (m === null) continue;
    const file = (m[1] as string).startsWith('file:') ? fileURLToPath(m[1] as string) : (m[1] as string);
    if (file.includes('/node_modules/')) continue;
    return `${file}:${m[2] as string}:${m[3] as string}`;
  }
  return null;
}

/**
 * Node's "arrow" header of a module error: `<file>:<line>`, the source line, then carets under the place, e.g.
 * `file:///srv/tasks.mjs:1\nimport { nope } from "./x.mjs";\n         ^^^^`. Returns `file:line:col` or null.
 */
export function arrowLocation(text: string): string | null {
  const lines = text.split('\n');
  for (let i = 0; i + 2 < lines.length; i++) {
    const m = /^((?:file:\/\/)?\/\S*?):(\d+)$/.exec(lines[i] as string);
    if (m === null) continue;
    const caret = (lines[i + 2] as string).indexOf('^');
    const file = (m[1] as string).startsWith('file:') ? fileURLToPath(m[1] as string) : (m[1] as string);
    return caret === -1 ? `${file}:${m[2] as string}` : `${file}:${m[2] as string}:${caret + 1}`;
  }
  return null;
}

/** `file:line:col` of a syntax error in an ES module, by asking `node --check` (bounded), or null. */
export function syntaxErrorLocation(path: string, timeoutMs = 10_000): string | null {
  const r = spawnSync(process.execPath, ['--check', path], { encoding: 'utf8', timeout: timeoutMs });
  return typeof r.stderr === 'string' ? arrowLocation(r.stderr) : null;
}

/** Best place to show for a module that failed to import, or null when nothing names one. */
export function errorLocation(err: unknown, modulePath: string): string | null {
  const stack = typeof (err as Error)?.stack === 'string' ? ((err as Error).stack as string) : '';
  const arrow = arrowLocation(stack);
  if (arrow !== null) return arrow;
  if ((err as Error)?.name === 'SyntaxError') {
    const checked = syntaxErrorLocation(modulePath);
    if (checked !== null) return checked;
  }
  return frameLocation(stack);
}
