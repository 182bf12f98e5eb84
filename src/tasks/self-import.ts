// Importing a user's task module so that `import ... from 'task-backend-worker'` works wherever the module lives:
// next to a project that installed the package (normal resolution), or anywhere else (a global install, a systemd
// unit's /etc/task-backend-worker/tasks.mjs). When normal resolution cannot find the package, a resolve hook maps
// the bare name to THIS install and the import is retried; the hook is registered only then, so processes whose
// modules resolve normally never pay for it (on Node 20 hooks run in an extra loader thread).
import * as nodeModule from 'node:module';
import { pathToFileURL } from 'node:url';

const SELF = 'task-backend-worker';
/** This install's entry points, as the package's exports name them. */
const SELF_URLS: Readonly<Record<string, string>> = {
  [SELF]: new URL('../index.js', import.meta.url).href,
  [`${SELF}/package.json`]: new URL('../../../package.json', import.meta.url).href,
};

type ResolveHook = (
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => unknown,
) => unknown;
interface ModuleApi {
  /** Node >= 22.15 / 23.5: synchronous hooks in this thread. */
  registerHooks?: (hooks: { resolve: ResolveHook }) => unknown;
  /** Node >= 20.6: hooks in a loader thread. */
  register?: (specifier: string, parentURL: string, options: { data: unknown }) => void;
}

let installed = false;

/** Pure: did this import fail only because the bare package name could not be resolved? */
export function missingSelf(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(`Cannot find package '${SELF}'`);
}

/** Map 'task-backend-worker' to this install for every later import in this process. Idempotent. */
export function installSelfResolution(api: ModuleApi = nodeModule as ModuleApi): boolean {
  if (installed) return true;
  if (typeof api.registerHooks === 'function') {
    api.registerHooks({
      resolve: (specifier, context, next) => {
        const url = SELF_URLS[specifier];
        return url === undefined ? next(specifier, context) : { url, format: 'module', shortCircuit: true };
      },
    });
  } else if (typeof api.register === 'function') {
    api.register(new URL('./self-resolve-hooks.js', import.meta.url).href, import.meta.url, { data: SELF_URLS });
  } else {
    return false; // Node < 20.6: no module hooks
  }
  installed = true;
  return true;
}

/** import() a task module by path; see the module comment for the self-resolution retry. */
export async function importTaskModule(path: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (err) {
    if (!missingSelf(err) || !installSelfResolution()) throw err;
    // The failed attempt is cached under its URL (it failed while linking, so nothing in it ran): a new URL
    // imports the module afresh, now with the hook.
    return (await import(`${url}?tbw-self`)) as Record<string, unknown>;
  }
}
