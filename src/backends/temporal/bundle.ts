// The workflow bundle: built ONCE ahead of time (scripts/build-temporal-bundle.mjs, part of `npm run build`) from
// the generic workflows.ts, and specialised per registry at child start by substituting the registry metadata
// into its code — a string replace, not webpack. User task modules never need a bundle of their own.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BootError } from '../contract.js';
import type { RegistryMeta } from './meta.js';

const META_SLOT = /(["'])__TBW_REGISTRY_META__\1/g;
export const BUNDLE_ENV = 'TBW_TEMPORAL_BUNDLE';

/** The package root: the nearest directory above this module with our package.json (works from src/ and dist/). */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'task-backend-worker'
    ) {
      return dir;
    }
    if (dirname(dir) === dir) throw new Error('package root of task-backend-worker not found');
  }
}

export function defaultBundlePath(): string {
  return process.env[BUNDLE_ENV] ?? join(packageRoot(), 'dist', 'temporal', 'workflow-bundle.js');
}

/** Build time only: webpack the generic workflow code (compiled by tsc into dist/) into one file. */
export async function buildWorkflowBundle(outPath = defaultBundlePath()): Promise<{ path: string; bytes: number }> {
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const workflowsPath = join(packageRoot(), 'dist', 'src', 'backends', 'temporal', 'workflows.js');
  if (!existsSync(workflowsPath)) throw new Error(`${workflowsPath} missing: run tsc first`);
  const nop = (): void => undefined;
  const warn = (message: string, meta?: unknown): void => void console.error(message, meta ?? '');
  // Only webpack's warnings and errors reach the build output.
  const logger = { log: nop, trace: nop, debug: nop, info: nop, warn, error: warn };
  const { code } = await bundleWorkflowCode({ workflowsPath, logger });
  const slots = code.match(META_SLOT)?.length ?? 0;
  if (slots !== 1) throw new Error(`workflow bundle has ${slots} registry metadata slots, expected 1`);
  await mkdir(dirname(outPath), { recursive: true });
  await writeFile(outPath, code);
  return { path: outPath, bytes: code.length };
}

/** Child start: the prebuilt bundle with this registry's metadata in place. A missing bundle is a BootError. */
export function loadWorkflowBundle(meta: RegistryMeta, path = defaultBundlePath()): { code: string } {
  let code: string;
  try {
    code = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BootError(
      `temporal workflow bundle not readable at ${path} (${(err as Error).message}); build it with npm run build`,
    );
  }
  return { code: injectMeta(code, meta) };
}

export function injectMeta(code: string, meta: RegistryMeta): string {
  let count = 0;
  // Double encoding: the slot is a string literal holding JSON, parsed once in the sandbox.
  const literal = JSON.stringify(JSON.stringify(meta));
  const out = code.replace(META_SLOT, () => {
    count++;
    return literal;
  });
  if (count !== 1) throw new BootError(`temporal workflow bundle has ${count} registry metadata slots, expected 1`);
  return out;
}
