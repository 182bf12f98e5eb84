// Dotenv-style env file parser (no dependency): KEY=VALUE lines, `export ` prefix, # comments, single quotes
// (literal), double quotes (escapes \n \t \r \" \\ and line breaks), unquoted values with ` #` trailing comments.
// No variable expansion: values are taken as written.

export class EnvFileError extends Error {
  override name = 'EnvFileError';
  constructor(
    readonly line: number,
    readonly problem: string,
  ) {
    super(`line ${line}: ${problem}`);
  }
}

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', $: '$' };

/** Parse env file text into an ordered map; the last assignment of a key wins. Throws EnvFileError. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const src = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  let i = 0;
  let line = 1;
  while (i < src.length) {
    const eol = src.indexOf('\n', i);
    const end = eol === -1 ? src.length : eol;
    const raw = src.slice(i, end);
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      i = end + 1;
      line++;
      continue;
    }
    const eq = raw.indexOf('=');
    if (eq === -1) throw new EnvFileError(line, 'expected KEY=VALUE');
    let key = raw.slice(0, eq).trim();
    if (key.startsWith('export ') || key.startsWith('export\t')) key = key.slice(7).trim();
    if (!KEY_RE.test(key)) throw new EnvFileError(line, `invalid name "${key.slice(0, 40)}"`);
    const startLine = line;
    let j = i + eq + 1;
    while (j < end && (src[j] === ' ' || src[j] === '\t')) j++;
    const quote = src[j];
    let value: string;
    if (quote === '"' || quote === "'") {
      // Quoted values may span lines; find the closing quote (honouring escapes inside double quotes).
      let k = j + 1;
      let buf = '';
      while (k < src.length && src[k] !== quote) {
        const ch = src[k] as string;
        if (ch === '\\' && quote === '"' && k + 1 < src.length) {
          const next = src[k + 1] as string;
          buf += ESCAPES[next] ?? `\\${next}`;
          k += 2;
          continue;
        }
        if (ch === '\n') line++;
        buf += ch;
        k++;
      }
      if (k >= src.length) throw new EnvFileError(startLine, `unterminated ${quote} quote`);
      const restEnd = src.indexOf('\n', k);
      const rest = src.slice(k + 1, restEnd === -1 ? src.length : restEnd).trim();
      if (rest !== '' && !rest.startsWith('#')) throw new EnvFileError(line, 'unexpected text after closing quote');
      value = buf;
      i = restEnd === -1 ? src.length : restEnd + 1;
    } else {
      const rest = src.slice(j, end);
      const hash = rest.search(/\s#/);
      value = (hash === -1 ? rest : rest.slice(0, hash)).trim();
      i = end + 1;
    }
    out[key] = value;
    line++;
  }
  return out;
}
