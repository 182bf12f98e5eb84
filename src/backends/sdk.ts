// The SDK packages each backend loads at run time. They are optional peer dependencies (a Celery-only install
// does not carry ~176 MB of Temporal SDK), so choosing a backend whose SDK is absent must be one line naming what
// to install, before any child starts, not a crash loop of children failing to import it.
import { createRequire } from 'node:module';
import type { BackendName } from '../tasks/types.js';

/** What each backend imports, with the version this release is built and tested against (package.json peers). */
export const BACKEND_SDKS: Readonly<Record<BackendName, readonly { pkg: string; version: string; entry: string }[]>> = {
  celery: [],
  temporal: [
    { pkg: '@temporalio/worker', version: '1.24.0', entry: '@temporalio/worker' },
    { pkg: '@temporalio/client', version: '1.24.0', entry: '@temporalio/client' },
    { pkg: '@temporalio/activity', version: '1.24.0', entry: '@temporalio/activity' },
    { pkg: '@temporalio/common', version: '1.24.0', entry: '@temporalio/common' },
  ],
  hatchet: [
    { pkg: '@hatchet-dev/typescript-sdk', version: '1.33.2', entry: '@hatchet-dev/typescript-sdk/v1/index.js' },
  ],
};

/**
 * Null when every SDK package `backend` needs resolves from this install, else the one-line reason with the
 * exact install command; `source` says where the backend was chosen (e.g. "flag --backend"). Resolution only:
 * nothing is loaded (the supervisor never runs the SDK itself).
 */
export function missingSdk(
  backend: BackendName,
  source: string,
  resolve: (entry: string) => string = createRequire(import.meta.url).resolve,
): string | null {
  const missing = BACKEND_SDKS[backend].filter(({ entry }) => {
    try {
      resolve(entry);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return null;
  const names = missing.map((m) => m.pkg).join(', ');
  const install = missing.map((m) => `${m.pkg}@${m.version}`).join(' ');
  return `backend "${backend}" (from ${source}) needs ${names}, not installed: npm install ${install} (add -g for a global install)`;
}
