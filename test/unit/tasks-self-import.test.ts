// Task modules anywhere: which import failures mean "the package name did not resolve", the hook that maps it to
// this install, and the one line for TypeScript modules on a Node without type stripping.
import t from 'tap';
import { typeScriptHint } from '../../src/tasks/loader.js';
import { installSelfResolution, missingSelf } from '../../src/tasks/self-import.js';

void t.test('missingSelf: only an unresolved bare task-backend-worker import', async (t) => {
  const err = (code: string, message: string) => Object.assign(new Error(message), { code });
  t.ok(missingSelf(err('ERR_MODULE_NOT_FOUND', "Cannot find package 'task-backend-worker' imported from /etc/x.mjs")));
  t.notOk(missingSelf(err('ERR_MODULE_NOT_FOUND', "Cannot find package 'lodash' imported from /etc/x.mjs")));
  t.notOk(missingSelf(err('ERR_MODULE_NOT_FOUND', "Cannot find module '/etc/helper.mjs' imported from /etc/x.mjs")));
  t.notOk(missingSelf(new SyntaxError('Unexpected token')));
  t.notOk(missingSelf(null));
});

void t.test(
  'the resolve hook maps the package name (and its package.json) to this install, nothing else',
  async (t) => {
    type Hook = (s: string, c: unknown, n: (s: string, c: unknown) => unknown) => unknown;
    let hook: Hook | null = null;
    t.ok(installSelfResolution({ registerHooks: (h: { resolve: Hook }) => (hook = h.resolve) }), 'installed');
    if (hook === null) throw new Error('no hook registered');
    const h: Hook = hook;
    const next = (s: string) => ({ passed: s });
    const self = h('task-backend-worker', {}, next) as { url: string; shortCircuit: boolean };
    t.match(self.url, /^file:\/\/.*\/src\/index\.js$/, 'the package entry of this install');
    t.equal(self.shortCircuit, true);
    t.match((h('task-backend-worker/package.json', {}, next) as { url: string }).url, /\/package\.json$/);
    t.same(h('lodash', {}, next), { passed: 'lodash' }, 'other specifiers go on unchanged');
    t.same(h('./helper.mjs', {}, next), { passed: './helper.mjs' });
    t.ok(installSelfResolution({}), 'idempotent: a second call changes nothing');
  },
);

void t.test('TypeScript hint names the Node version and every way out', async (t) => {
  t.equal(
    typeScriptHint('v20.20.2'),
    'Node v20.20.2 cannot load TypeScript: use Node >= 22.18 (it strips types), or Node >= 22.6 with ' +
      'NODE_OPTIONS=--experimental-strip-types, or NODE_OPTIONS="--import tsx", or compile the module to .mjs',
  );
});
