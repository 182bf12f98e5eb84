// Typos in setting names: which names are reported, the suggestion, the wording every command uses, the
// --strict-env refusal, and the documented list of known-but-ignored names staying in step with the code.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { runCli } from '../../src/cli/run.js';
import {
  closestName,
  describeUnknown,
  editDistance,
  KNOWN_IGNORED,
  knownEnvNames,
  unknownEnvNames,
} from '../../src/config/env-names.js';
import { SETTINGS } from '../../src/config/settings.js';
import { currentHost } from '../../src/config/load.js';
import type { WorkerConfig } from '../../src/config/types.js';

void t.test('edit distance counts a transposition as one edit', async (t) => {
  t.equal(editDistance('CELERY_BROKER_ULR', 'CELERY_BROKER_URL'), 1);
  t.equal(editDistance('TASK_WORKER_CONCURENCY', 'TASK_WORKER_CONCURRENCY'), 1);
  t.equal(editDistance('abc', 'abc'), 0);
  t.equal(editDistance('', 'abc'), 3);
  t.equal(editDistance('kitten', 'sitting'), 3);
});

void t.test('the closest known name, only when it is close', async (t) => {
  const known = knownEnvNames();
  t.equal(closestName('CELERY_BROKER_ULR', known), 'CELERY_BROKER_URL');
  t.equal(closestName('TASK_WORKER_CONCURENCY', known), 'TASK_WORKER_CONCURRENCY');
  t.equal(closestName('celery_broker_url', known), 'CELERY_BROKER_URL', 'case does not matter');
  t.equal(closestName('HATCHET_CLIENT_TOKN', known), 'HATCHET_CLIENT_TOKEN');
  // RabbitMQ's names, composed and aliased ones too.
  t.equal(closestName('CELERY_BROKER_PAS', known), 'CELERY_BROKER_PASS');
  t.equal(closestName('RABBITMQ_HA_ENABLE', known), 'RABBITMQ_HA_ENABLED');
  t.equal(closestName('CELERY_WORKER_PREFETCH_MULTIPLER', known), 'CELERY_WORKER_PREFETCH_MULTIPLIER');
  t.equal(closestName('CELERY_TASK_REJECT_ON_WORKER_LOTS', known), 'CELERY_TASK_REJECT_ON_WORKER_LOST');
  t.equal(closestName('TASK_SOMETHING_ELSE_ENTIRELY', known), null);
});

void t.test('what is reported: our prefixes everywhere, near misses in the env file, nothing else', async (t) => {
  const env = {
    CELERY_BROKER_ULR: 'redis://x',
    TASK_WORKER_CONCURENCY: '3',
    CELERY_BROKER_URL: 'redis://y', // known
    HATCHET_CLIENT_TLS_ROOT_CA_FILE: '/ca.pem', // read by the Hatchet SDK itself
    CELERY_BROKER_BASE_URL: 'amqp://rabbit//', // the platform's split broker URL (a composed setting)
    DB_HOST: 'pg', // the platform's
    PATH: '/usr/bin',
    CELRY_RESULT_BACKEND: 'x', // not our prefix: never reported from the environment
    DATABASE_URL: 'postgres://', // a task module's own
  };
  const file = { path: 'conf/w.env', vars: { CELRY_RESULT_BACKEND: 'redis://', DATABASE_URL: 'pg://', TASK_FOO: '1' } };
  const got = unknownEnvNames(env, file);
  t.same(got, [
    { name: 'CELRY_RESULT_BACKEND', where: 'env file conf/w.env', suggestion: 'CELERY_RESULT_BACKEND' },
    { name: 'TASK_FOO', where: 'env file conf/w.env', suggestion: null },
    { name: 'CELERY_BROKER_ULR', where: 'the environment', suggestion: 'CELERY_BROKER_URL' },
    { name: 'TASK_WORKER_CONCURENCY', where: 'the environment', suggestion: 'TASK_WORKER_CONCURRENCY' },
  ]);
  t.equal(
    describeUnknown(got[2] as (typeof got)[number]),
    'CELERY_BROKER_ULR in the environment is not a setting and is ignored; did you mean CELERY_BROKER_URL?',
  );
  t.equal(
    describeUnknown(got[1] as (typeof got)[number]),
    'TASK_FOO in env file conf/w.env is not a setting and is ignored; no setting has a similar name',
  );
  t.same(unknownEnvNames({ TASK_MODULES: 'x', TEMPORAL_HOST: 'h', TASK_ENV_FILE: 'a' }, null), [], 'all known');
});

void t.test('every known-but-ignored name is documented in docs/cli.md, and none shadows a setting', async (t) => {
  const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
  const settingNames = new Set(SETTINGS.flatMap((s) => s.env));
  for (const group of KNOWN_IGNORED) {
    for (const name of group.names) {
      t.ok(doc.includes(name), `docs/cli.md lists ${name}`);
      t.notOk(settingNames.has(name), `${name} is not also a setting`);
    }
  }
});

async function cli(argv: string[], env: Record<string, string>) {
  let out = '';
  let err = '';
  let started: WorkerConfig | null = null;
  const code = await runCli(
    argv,
    {
      env,
      host: { ...currentHost({}), cwd: '/nonexistent-dir' },
      stdout: (s) => void (out += s),
      stderr: (s) => void (err += s),
    },
    {
      runSupervisor: async (c) => {
        started = c;
        return 0;
      },
      workerEntryExists: () => true,
      checkTasks: async () => undefined,
      applyEnv: () => undefined,
      extraCommands: async () => [],
    },
  );
  return { code, out, err, started: started as WorkerConfig | null };
}

void t.test('the worker warns once per unknown name; --strict-env refuses to start (78)', async (t) => {
  const env = { CELERY_BROKER_ULR: 'redis://127.0.0.1:1/0', TASK_WORKER_CONCURENCY: '3' };
  const warned = await cli([], env);
  t.equal(warned.code, 0);
  t.equal(
    warned.err,
    'task-backend-worker: warning: CELERY_BROKER_ULR in the environment is not a setting and is ignored; did you mean CELERY_BROKER_URL?\n' +
      'task-backend-worker: warning: TASK_WORKER_CONCURENCY in the environment is not a setting and is ignored; did you mean TASK_WORKER_CONCURRENCY?\n',
  );
  t.ok(warned.started, 'the pool starts');
  const strict = await cli(['--strict-env'], env);
  t.equal(strict.code, 78);
  t.equal(
    strict.err,
    'task-backend-worker: unknown names refused by --strict-env: CELERY_BROKER_ULR in the environment (did you mean CELERY_BROKER_URL?), TASK_WORKER_CONCURENCY in the environment (did you mean TASK_WORKER_CONCURRENCY?)\n',
  );
  t.equal(strict.started, null, 'nothing starts');
  const strictEnv = await cli([], { ...env, TASK_STRICT_ENV: 'true' });
  t.equal(strictEnv.code, 78);
  t.match(strictEnv.err, /^task-backend-worker: unknown names refused by TASK_STRICT_ENV \(from the environment\): /);
  const clean = await cli(['--strict-env'], { CELERY_BROKER_URL: 'redis://127.0.0.1:1/0' });
  t.equal(clean.code, 0, 'no unknown names: --strict-env starts');
  t.equal(clean.err, '');
  // A bad value still fails as before, after the warnings that may explain it.
  const bad = await cli([], { TASK_WORKER_CONCURENCY: '3', TASK_BACKEND_TYPE: 'sqs' });
  t.equal(bad.code, 78);
  t.equal(
    bad.err.split('\n')[0],
    'task-backend-worker: warning: TASK_WORKER_CONCURENCY in the environment is not a setting and is ignored; did you mean TASK_WORKER_CONCURRENCY?',
  );
  t.match(bad.err.split('\n')[1], /^task-backend-worker: invalid TASK_BACKEND_TYPE "sqs"/);
});
