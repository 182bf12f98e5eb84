// sample.env, docs/settings.md and the README settings block are generated from the settings table; this fails
// when any of them drifts (fix: npm run build && node dist/src/config/docs.js --write).
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseEnvFile } from '../../src/config/envfile.js';
import {
  docTargets,
  renderReadmeBlock,
  renderSampleEnv,
  renderSettingsMarkdown,
  replaceReadmeBlock,
} from '../../src/config/docs.js';
import { SETTINGS } from '../../src/config/settings.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

void t.test('generated files match the table', async (t) => {
  const targets = await docTargets(root);
  const files = targets.map((x) => x.file);
  t.ok(
    files.includes('sample.env') && files.includes('docs/settings.md'),
    'sample.env and docs/settings.md are checked',
  );
  t.ok(files.includes('README.md'), 'README.md has the settings markers, so its block is checked too');
  for (const target of targets) {
    t.ok(target.actual !== null, `${target.file} exists`);
    t.equal(target.actual, target.expected, `${target.file} is up to date (run node dist/src/config/docs.js --write)`);
  }
});

void t.test('every setting appears in sample.env, the Markdown table and the README block', async (t) => {
  const sample = renderSampleEnv();
  const md = renderSettingsMarkdown();
  const readme = renderReadmeBlock();
  for (const row of SETTINGS) {
    const env = row.env[0] as string;
    t.match(sample, new RegExp(`^#${env}=`, 'm'), `${env} in sample.env`);
    t.ok(md.includes(`\`${env}`) && readme.includes(`\`${env}`), `${env} in the tables`);
  }
  // Uncommented, sample.env is a valid env file whose secrets are blank.
  const vars = parseEnvFile(sample.replace(/^#([A-Z_]+=)/gm, '$1'));
  t.equal(vars.HATCHET_CLIENT_TOKEN, '');
  t.equal(vars.TEMPORAL_API_KEY, '');
  t.equal(vars.TASK_NO_BUILTINS, 'false', 'inverted env default documented as the env value');
});

void t.test('README block replacement touches only the text between the markers', async (t) => {
  const readme = 'intro\n<!-- settings:begin -->\nold\n<!-- settings:end -->\noutro\n';
  t.equal(replaceReadmeBlock(readme, '\nNEW\n'), 'intro\n<!-- settings:begin -->\nNEW\n<!-- settings:end -->\noutro\n');
  t.equal(replaceReadmeBlock('no markers', 'x'), null);
});
