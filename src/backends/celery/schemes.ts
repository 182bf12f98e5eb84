// A URL scheme → part table, shared by the transport and result-store registries: one rule for what a URL that no
// part takes is told, and for loading a part only when its scheme is used.

export interface SchemePart<T> {
  /** Why this URL cannot be used by this part (a bad TLS parameter...), or null. */
  problem(url: string): string | null;
  /** Loads the part's module (a dynamic import: an unused transport's client library never loads). */
  open(): Promise<T>;
}

function schemeOf(url: string): string | null {
  try {
    return new URL(url).protocol;
  } catch {
    return null;
  }
}

export class SchemeTable<T> {
  /** Keys are URL schemes with their colon, as URL.protocol gives them (`redis:`). */
  constructor(private readonly parts: Readonly<Record<string, SchemePart<T>>>) {}

  /** Why `url` cannot be used (unknown scheme, bad parameters), or null. */
  problem(url: string): string | null {
    const scheme = schemeOf(url);
    if (scheme === null) return 'is not a valid URL';
    const part = this.parts[scheme];
    if (part === undefined) return `must be a ${Object.keys(this.parts).join('// or ')}// URL`;
    return part.problem(url);
  }

  /** The part for `url`; throws `<what> <problem>` when there is none. */
  async load(url: string, what: string): Promise<T> {
    const problem = this.problem(url);
    if (problem !== null) throw new Error(`${what} ${problem}`);
    return this.parts[schemeOf(url) as string]!.open();
  }
}
