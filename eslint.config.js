// Lint: typescript-eslint's type-aware rules (chiefly no floating promises), the size limits, and the layering of
// src/ (docs/architecture.md has the table): each directory may import only the directories listed for it.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Top-level directories of src/ (src/*.ts files such as exit-codes.ts are leaves anyone may import). */
const DIRS = ['backends', 'child', 'cli', 'client', 'config', 'ipc', 'log', 'ops', 'supervisor', 'tasks', 'util'];

/** What each directory of src/ may import besides itself. The ARROWS of docs/architecture.md. */
export const LAYERS = {
  util: [],
  config: ['util'],
  ipc: ['config', 'util'],
  log: ['config', 'util'],
  tasks: ['config', 'ipc', 'log', 'util'],
  supervisor: ['config', 'ipc', 'log', 'util'],
  // Backends see the supervisor only through its published types (src/supervisor/api.ts), below.
  backends: ['client', 'config', 'ipc', 'log', 'tasks', 'util'],
  child: ['backends', 'config', 'ipc', 'log', 'tasks', 'util'],
  client: ['backends', 'config', 'ipc', 'log', 'tasks', 'util'],
  ops: ['backends', 'config', 'ipc', 'log', 'supervisor', 'util'],
  cli: ['backends', 'client', 'config', 'ipc', 'log', 'ops', 'tasks', 'util'],
};

/** A relative import that climbs out to src/<dir>/ (any depth: a file of src/a/b/ imports ../../dir/x.js). */
const into = (dir) => `^(\\.\\./)+${dir}/`;

function layerRule(dir) {
  const forbidden = DIRS.filter((d) => d !== dir && !LAYERS[dir].includes(d));
  const patterns = forbidden.map((d) => ({
    regex: d === 'supervisor' && dir === 'backends' ? `${into(d)}(?!api\\.js$)` : into(d),
    message: `src/${dir} may not import src/${d}${
      d === 'supervisor' && dir === 'backends' ? ' (only its published types, supervisor/api.js)' : ''
    }: see the layer table in docs/architecture.md.`,
  }));
  return { files: [`src/${dir}/**/*.ts`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.tbw/**',
      'coverage/**',
      '.tap/**',
      '**/*.cjs',
      '**/*.mjs',
      'bin/**',
      'test/fixtures/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  // Small files, small functions: a longer one says why in an eslint-disable comment. bench/ is held to the file
  // limit but not the function limit: a bench's main walks its whole run in one place.
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }] },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }] },
  },
  ...Object.keys(LAYERS).map(layerRule),
);
