// Module resolve hook (registered by self-import.ts with module.register on Node 20.6+; it runs in Node's loader
// thread): 'task-backend-worker' and its package.json resolve to the install that runs the task modules.
let urls: Readonly<Record<string, string>> = {};

export function initialize(data: Readonly<Record<string, string>>): void {
  urls = data;
}

export async function resolve(
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => Promise<unknown>,
): Promise<unknown> {
  const url = urls[specifier];
  return url === undefined ? next(specifier, context) : { url, shortCircuit: true };
}
