// Renders sample.env, docs/settings.md and the README settings block from the settings table.
// `node dist/src/config/docs.js --write` regenerates them; `--check` exits 1 when any has drifted.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatDuration, formatSize } from './parse.js';
import { SETTINGS } from './settings.js';
import { GROUP_TITLES, isDefaultFn, type Setting, type SettingGroup } from './table-types.js';

const GROUP_ORDER: SettingGroup[] = ['core', 'ops', 'celery', 'temporal', 'hatchet'];
export const README_BEGIN = '<!-- settings:begin -->';
export const README_END = '<!-- settings:end -->';
const GENERATED =
  'Generated from src/config/settings.ts by `node dist/src/config/docs.js --write`; do not edit by hand.';

/** Environment names as documented: canonical first, then aliases and composed forms. */
export function envDoc(row: Setting): string {
  const [first, ...aliases] = row.env;
  let s = first ?? '';
  if (aliases.length > 0) s += ` (alias ${aliases.join(', ')})`;
  if (row.compose !== undefined) s += ` (or ${row.compose.doc})`;
  return s;
}

export function defaultDoc(row: Setting): string {
  const d = row.default;
  if (isDefaultFn(d)) return d.doc;
  if (d === null) return 'unset';
  // TASK_NO_BUILTINS: the documented default is the environment's meaning (false), not the setting's (true).
  if (row.envInverted === true && typeof d === 'boolean') return String(!d);
  if (Array.isArray(d)) return d.length === 0 ? 'none' : d.join(',');
  const t = row.type;
  if (t.kind === 'duration' && typeof d === 'number') return formatDuration(t.unit === 'ms' ? d : d * 1000);
  if (t.kind === 'size' && typeof d === 'number') return formatSize(t.unit === 'B' ? d : d * 1024);
  return String(d);
}

export function typeDoc(row: Setting): string {
  const t = row.type;
  let s: string;
  switch (t.kind) {
    case 'int':
      s = t.max !== undefined ? `integer ${t.min ?? 0}..${t.max}` : `integer >= ${t.min ?? 0}`;
      break;
    case 'duration':
      s = 'duration';
      break;
    case 'size':
      s = 'size';
      break;
    case 'bool':
      s = 'boolean';
      break;
    case 'enum':
      s = t.choices.join(' \\| ');
      break;
    case 'list':
      s = t.paths === true ? 'paths, comma-separated' : 'comma-separated list';
      break;
    case 'string':
      s = 'string';
      break;
    case 'path':
      s = 'path';
      break;
    case 'url':
      s = `URL (${t.protocols.map((p) => `${p}//`).join(', ')})`;
      break;
    case 'hostport':
      s = 'host:port';
      break;
    case 'autoscale':
      s = 'max,min';
      break;
    default: {
      const never: never = t;
      throw new Error(`unknown type ${JSON.stringify(never)}`);
    }
  }
  if (row.zeroIsNull === true) s += ', 0 = none';
  if (row.secret === true) s += ', secret';
  return s;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
/** Prose in a Markdown cell: angle brackets are HTML to a renderer. */
const prose = (s: string): string => cell(s).replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** Literal defaults read as code; computed ones are prose. */
const defaultCell = (row: Setting): string =>
  isDefaultFn(row.default) || row.default === null || (Array.isArray(row.default) && row.default.length === 0)
    ? prose(defaultDoc(row))
    : `\`${cell(defaultDoc(row))}\``;

/** The settings tables in Markdown, one per group; `level` is the heading level of group titles. */
export function renderSettingsTables(level = 3): string {
  const out: string[] = [];
  for (const g of GROUP_ORDER) {
    out.push(
      `${'#'.repeat(level)} ${GROUP_TITLES[g]}`,
      '',
      '| Environment | Flag | Type | Default | Description |',
      '|---|---|---|---|---|',
    );
    for (const row of SETTINGS.filter((s) => s.group === g)) {
      const flag = row.flag !== undefined ? `\`${row.flag}\`` : '';
      out.push(
        `| \`${cell(envDoc(row))}\` | ${cell(flag)} | ${typeDoc(row)} | ${defaultCell(row)} | ${prose(row.description)} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}

export function renderSettingsMarkdown(): string {
  return [
    '# Settings',
    '',
    `<!-- ${GENERATED} -->`,
    '',
    'Every setting has an environment name; the common ones also have a flag. Precedence, per setting:',
    '**flag > environment > env file > default**. The env file is `--env-file PATH`, or `./.env` when it exists',
    '(see [sample.env](../sample.env)); its variables are also exported to the children, so task code can read its',
    'own settings from it. Empty values count as unset. Nullable settings accept `none` to mean unset.',
    '',
    '- Durations: `500ms`, `30s`, `2m`, `1h`, `1d`; a bare number is seconds.',
    '- Sizes: `512MiB`, `1GiB`, `64K` (binary) or `512MB` (decimal); a bare number is KiB for',
    '  `--max-memory-per-child` (as in Celery) and bytes elsewhere.',
    '- Booleans: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`.',
    '- Secrets (tokens, API keys, passwords inside URLs) never appear in logs, errors, `--help` or `config` output.',
    '- A bad value stops the worker with one line naming the setting, where the value came from and what is',
    '  accepted: exit 64 when it came from a flag, 78 from the environment or the env file.',
    '',
    renderSettingsTables(2),
  ].join('\n');
}

export function renderReadmeBlock(): string {
  return ['', `<!-- ${GENERATED} -->`, '', renderSettingsTables(3)].join('\n');
}

export function renderSampleEnv(): string {
  const out = [
    '# task-backend-worker settings. Copy to .env and uncomment what you change.',
    `# ${GENERATED}`,
    '# Precedence: flag > environment > env file > default. Durations: 30s, 500ms, 2m (bare = seconds).',
    '',
  ];
  for (const g of GROUP_ORDER) {
    out.push(`# ── ${GROUP_TITLES[g]} ${'─'.repeat(Math.max(3, 100 - GROUP_TITLES[g].length))}`, '');
    for (const row of SETTINGS.filter((s) => s.group === g)) {
      const flag = row.flag !== undefined ? ` Flag: ${row.flag}.` : '';
      out.push(`# ${row.description}`);
      out.push(`# ${typeDoc(row).replace(/\\\|/g, '|')}.${flag} Default: ${defaultDoc(row)}.`);
      if (row.env.length > 1 || row.compose !== undefined)
        out.push(`# Also read: ${envDoc(row).replace(/^\S+\s*/, '')}`);
      const example = row.secret === true ? '' : (row.example ?? (isDefaultFn(row.default) ? '' : defaultDoc(row)));
      out.push(`#${row.env[0] ?? ''}=${example === 'unset' || example === 'none' ? '' : example}`, '');
    }
  }
  return out.join('\n');
}

export interface DocTarget {
  file: string;
  expected: string;
  actual: string | null;
}

/** What each generated file should contain, next to what it contains now (README only when it has the markers). */
export async function docTargets(root: string): Promise<DocTarget[]> {
  const read = async (f: string): Promise<string | null> => {
    try {
      return readFileSync(path.join(root, f), 'utf8');
    } catch {
      return null;
    }
  };
  const targets: DocTarget[] = [
    { file: 'sample.env', expected: renderSampleEnv(), actual: await read('sample.env') },
    { file: 'docs/settings.md', expected: renderSettingsMarkdown(), actual: await read('docs/settings.md') },
  ];
  const readme = await read('README.md');
  const replaced = readme === null ? null : replaceReadmeBlock(readme, renderReadmeBlock());
  if (readme !== null && replaced !== null) targets.push({ file: 'README.md', expected: replaced, actual: readme });
  return targets;
}

/** README with the text between the markers replaced; null when the markers are missing. */
export function replaceReadmeBlock(readme: string, block: string): string | null {
  const b = readme.indexOf(README_BEGIN);
  const e = readme.indexOf(README_END);
  if (b === -1 || e === -1 || e < b) return null;
  return `${readme.slice(0, b + README_BEGIN.length)}\n${block.trim()}\n${readme.slice(e)}`;
}

async function main(argv: string[]): Promise<number> {
  const rootIdx = argv.indexOf('--root');
  const root =
    rootIdx !== -1 && argv[rootIdx + 1] !== undefined ? path.resolve(argv[rootIdx + 1] as string) : process.cwd();
  const targets = await docTargets(root);
  const drifted = targets.filter((t) => t.actual !== t.expected);
  if (argv.includes('--write')) {
    for (const t of drifted) writeFileSync(path.join(root, t.file), t.expected);
    process.stdout.write(`updated: ${drifted.map((t) => t.file).join(', ') || 'nothing'}\n`);
    return 0;
  }
  if (argv.includes('--check')) {
    if (drifted.length === 0) return 0;
    process.stderr.write(
      `out of date: ${drifted.map((t) => t.file).join(', ')} (run node dist/src/config/docs.js --write)\n`,
    );
    return 1;
  }
  process.stdout.write(renderSettingsMarkdown());
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`docs: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
