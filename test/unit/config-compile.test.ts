// compileConfig: defaults, precedence (flag > env > env file > default), aliases, the TEMPORAL_HOST+PORT rule,
// cross-setting rules, and errors that name setting, source and what is accepted without leaking secrets.
import t, { type Test } from 'tap';
import { checkBackendSettings } from '../../src/backends/registry.js';
import { compileConfig, compileSettings, type CompileInput } from '../../src/config/compile.js';
import { ConfigError } from '../../src/config/errors.js';
import { redact } from '../../src/config/redact.js';
import { defaultControlSocket, fnv1a64, SETTINGS } from '../../src/config/settings.js';
import type { HostInfo } from '../../src/config/table-types.js';

const host: HostInfo = {
  hostname: 'box.example.com',
  cpuCount: 6,
  stdoutIsTTY: false,
  cwd: '/srv/app',
  tmpdir: '/tmp',
  runtimeDir: null,
  uid: 1000,
};
// With the backends' own rules (Temporal TLS pair, Hatchet token), as the CLI compiles.
const compile = (input: Partial<CompileInput> = {}) => compileConfig({ host, check: checkBackendSettings, ...input });

function configError(t: Test, fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  t.fail('expected a ConfigError');
  throw new Error('unreachable');
}

void t.test('defaults', async (t) => {
  const c = compile();
  t.equal(c.backend, 'celery');
  t.equal(c.concurrency, 6, 'CPU count');
  t.equal(c.childConcurrency, 64);
  t.equal(c.queues, null);
  t.equal(c.hostname, 'celery@box.example.com');
  t.equal(c.logLevel, 'info');
  t.equal(c.logFormat, 'json', 'not a TTY');
  t.equal(compile({ host: { ...host, stdoutIsTTY: true } }).logFormat, 'pretty', 'TTY');
  t.same([c.maxTasksPerChild, c.maxMemoryPerChildKiB, c.autoscale, c.metricsPort], [null, null, null, null]);
  t.same(
    [c.shutdownTimeoutMs, c.heartbeatIntervalMs, c.heartbeatTimeoutMs, c.readyTimeoutMs],
    [30_000, 1000, 30_000, 60_000],
  );
  t.same(c.taskModules, []);
  t.equal(c.builtins, true);
  t.equal(c.controlSocket, '/tmp/task-backend-worker-1000/celery@box.example.com.sock');
  t.equal(
    compile({ host: { ...host, runtimeDir: '/run/user/1000' } }).controlSocket,
    '/run/user/1000/task-backend-worker/celery@box.example.com.sock',
  );
  t.equal(c.metricsHost, '127.0.0.1');
  t.same(c.celery, {
    brokerUrl: 'redis://127.0.0.1:6379/0',
    resultBackend: 'redis://127.0.0.1:6379/0',
    resultExpiresS: 86_400,
    resultExtended: false,
    resultCleanupIntervalS: 3600,
    chordRetryIntervalS: 1,
    databasePoolSize: 4,
    databaseTableNames: [],
    databaseTableSchemas: [],
    databasePickleResults: false,
    acksLate: true,
    rejectOnWorkerLost: false,
    acksOnFailureOrTimeout: true,
    visibilityTimeoutS: 3600,
    trackStarted: false,
    storeErrorsEvenIfIgnored: false,
    sendEvents: false,
    maxMessageBytes: 10 * 1024 * 1024,
    deadLetterKey: 'tbw.dead_letter',
    prefetchMultiplier: 1,
    queueType: 'classic',
    queueMaxPriority: null,
    exchangeType: 'direct',
    brokerHeartbeatS: 120,
    brokerConnectTimeoutS: 4,
    deadLetterMax: 10_000,
  });
  t.same(c.temporal, {
    address: '127.0.0.1:7233',
    namespace: 'default',
    taskQueue: 'default',
    apiKey: null,
    maxCachedWorkflows: 200,
    tls: { clientCertPath: null, clientKeyPath: null, serverCaCertPath: null, serverName: null, enabled: false },
  });
  t.same(c.hatchet, { token: null, hostPort: null, apiUrl: null, tlsStrategy: null, namespace: null });
});

void t.test('the table covers every WorkerConfig field exactly once', async (t) => {
  const keys = SETTINGS.map((s) => s.key);
  t.equal(new Set(keys).size, keys.length, 'no duplicate keys');
  const leaves: string[] = [];
  const walk = (o: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(o)) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && k !== 'autoscale')
        walk(v as Record<string, unknown>, `${prefix}${k}.`);
      else leaves.push(`${prefix}${k}`);
    }
  };
  walk(compile() as unknown as Record<string, unknown>, '');
  t.same([...leaves].sort(), [...keys].sort());
  const envNames = SETTINGS.flatMap((s) => [...s.env, ...(s.compose?.env ?? [])]);
  t.equal(new Set(envNames).size, envNames.length, 'no env name used twice');
  for (const name of [
    'TASK_BACKEND_TYPE',
    'TASK_WORKER_CONCURRENCY',
    'TASK_WORKER_NAME',
    'CELERY_BROKER_URL',
    'CELERY_RESULT_BACKEND',
    'HATCHET_CLIENT_TOKEN',
    'TEMPORAL_HOST',
    'TEMPORAL_PORT',
    'TEMPORAL_NAMESPACE',
    'TEMPORAL_TASK_QUEUE',
  ])
    t.ok(envNames.includes(name), `original env name ${name} still works`);
});

void t.test('precedence: flag > environment > env file > default, per setting', async (t) => {
  const envFile = {
    path: '.env',
    vars: { TASK_WORKER_CONCURRENCY: '2', TASK_QUEUES: 'from_file', TASK_LOG_LEVEL: 'debug' },
  };
  const env = { TASK_WORKER_CONCURRENCY: '3', TASK_QUEUES: 'from_env' };
  const flags = { concurrency: '4' };
  const { config, sources } = compileSettings({ host, envFile, env, flags });
  t.equal(config.concurrency, 4);
  t.equal(sources.concurrency, 'flag --concurrency');
  t.same(config.queues, ['from_env']);
  t.equal(sources.queues, 'env TASK_QUEUES');
  t.equal(config.logLevel, 'debug');
  t.equal(sources.logLevel, 'env file .env (TASK_LOG_LEVEL)');
  t.equal(sources.backend, 'default');
  t.equal(
    compile({ env: { TASK_WORKER_CONCURRENCY: '' }, envFile }).concurrency,
    2,
    'an empty env value counts as unset',
  );
});

void t.test('types from flags and env', async (t) => {
  const c = compile({
    flags: {
      backend: 'Temporal',
      queues: 'a, b',
      hostname: 'w%%1@%n',
      taskModules: ['./t1.js', '/abs/t2.js'],
      builtins: false,
      logLevel: 'WARNING',
      maxMemoryPerChildKiB: '512MB',
      autoscale: '10,3',
      shutdownTimeoutMs: '2m',
      'celery.sendEvents': true,
      metricsPort: '0',
    },
    env: {
      TASK_MAX_TASKS_PER_CHILD: '100',
      CELERY_RESULT_EXPIRES: '1h',
      CELERY_ACKS_LATE: 'no',
      CELERY_MAX_MESSAGE_SIZE: '1MiB',
      CELERY_RESULT_BACKEND: 'none',
      TEMPORAL_TLS_CLIENT_CERT_PATH: 'certs/c.pem',
      TEMPORAL_TLS_CLIENT_KEY_PATH: 'certs/k.pem',
      HATCHET_CLIENT_TLS_STRATEGY: 'none',
    },
  });
  t.equal(c.backend, 'temporal');
  t.same(c.queues, ['a', 'b']);
  t.equal(c.hostname, 'w%1@box', 'Celery %n / %% substitutions');
  t.same(c.taskModules, ['/srv/app/t1.js', '/abs/t2.js'], 'resolved against cwd');
  t.equal(c.builtins, false);
  t.equal(c.logLevel, 'warn');
  t.equal(c.maxMemoryPerChildKiB, 500_000);
  t.same(c.autoscale, { max: 10, min: 3 });
  t.equal(c.shutdownTimeoutMs, 120_000);
  t.equal(c.celery.sendEvents, true);
  t.equal(c.metricsPort, 0);
  t.equal(c.maxTasksPerChild, 100);
  t.equal(c.celery.resultExpiresS, 3600);
  t.equal(c.celery.acksLate, false);
  t.equal(c.celery.maxMessageBytes, 1024 * 1024);
  t.equal(c.celery.resultBackend, null, '"none" disables results');
  t.equal(c.temporal.tls.clientCertPath, '/srv/app/certs/c.pem');
  t.equal(c.temporal.tls.enabled, true, 'a client certificate turns TLS on');
  t.equal(c.hatchet.tlsStrategy, 'none', '"none" is a choice here, not null');
  t.equal(compile({ env: { TASK_MAX_TASKS_PER_CHILD: '0' } }).maxTasksPerChild, null, '0 = no limit');
  t.equal(compile({ flags: { maxMemoryPerChildKiB: '204800' } }).maxMemoryPerChildKiB, 204800, 'bare number is KiB');
  t.equal(compile({ env: { TEMPORAL_API_KEY: 'k' } }).temporal.tls.enabled, true, 'an API key turns TLS on');
  t.equal(compile({ env: { TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' } }).temporal.tls.enabled, false);
  t.equal(compile({ flags: { queues: ' , ' } }).queues, null, 'an empty list means the default queues');
});

void t.test('aliases and composed names', async (t) => {
  t.equal(compile({ env: { TASK_NO_BUILTINS: 'true' } }).builtins, false, 'TASK_NO_BUILTINS is inverted');
  t.equal(compile({ env: { TASK_NO_BUILTINS: '0' } }).builtins, true);
  t.equal(compile({ env: { HATCHET_CLIENT_SERVER_URL: 'http://h:8888' } }).hatchet.apiUrl, 'http://h:8888', 'alias');
  t.equal(
    compile({ env: { HATCHET_CLIENT_SERVER_URL: 'http://old:1', HATCHET_CLIENT_API_URL: 'http://new:2' } }).hatchet
      .apiUrl,
    'http://new:2',
    'canonical name wins over the alias',
  );
  t.equal(compile({ env: { TEMPORAL_HOST: 'temporal', TEMPORAL_PORT: '7234' } }).temporal.address, 'temporal:7234');
  t.equal(compile({ env: { TEMPORAL_HOST: 'temporal' } }).temporal.address, 'temporal:7233');
  t.equal(compile({ env: { TEMPORAL_PORT: '9' } }).temporal.address, '127.0.0.1:9');
  t.equal(
    compile({ env: { TEMPORAL_HOST: 'temporal:1234' } }).temporal.address,
    'temporal:1234',
    'host with port kept',
  );
  t.equal(
    compile({ env: { TEMPORAL_HOST: 'a', TEMPORAL_ADDRESS: 'b:1' } }).temporal.address,
    'b:1',
    'TEMPORAL_ADDRESS wins',
  );
  t.equal(
    compile({ env: { TEMPORAL_HOST: 'a' }, envFile: { path: 'x.env', vars: { TEMPORAL_PORT: '5' } } }).temporal.address,
    'a:5',
    'host and port may come from different layers',
  );
  const { sources } = compileSettings({ host, env: { TEMPORAL_PORT: '9' } });
  t.equal(sources['temporal.address'], 'env TEMPORAL_PORT');
  t.equal(
    compile({ flags: { backend: 'temporal' } }).hostname,
    'temporal@box.example.com',
    'hostname default follows backend',
  );
  t.equal(
    compile({ flags: { 'celery.brokerUrl': 'redis://r:1/2' } }).celery.resultBackend,
    'redis://r:1/2',
    'result backend defaults to the broker',
  );
});

void t.test(
  'validation: one line naming setting, source and what is accepted; exit 64 for flags, 78 otherwise',
  async (t) => {
    const cases: [Partial<CompileInput>, string | RegExp, number][] = [
      [
        { flags: { backend: 'rabbitmq' } },
        'invalid --backend "rabbitmq": expected one of celery, temporal, hatchet',
        64,
      ],
      [
        { env: { TASK_BACKEND_TYPE: 'rabbitmq' } },
        'invalid TASK_BACKEND_TYPE "rabbitmq" (from the environment): expected one of celery, temporal, hatchet',
        78,
      ],
      [{ flags: { concurrency: '0' } }, 'invalid --concurrency "0": expected an integer from 1 to 1024', 64],
      [
        { envFile: { path: 'conf/w.env', vars: { TASK_WORKER_CONCURRENCY: 'many' } } },
        'invalid TASK_WORKER_CONCURRENCY "many" (from env file conf/w.env): expected an integer from 1 to 1024',
        78,
      ],
      [
        { flags: { autoscale: '2,5' } },
        'invalid --autoscale "2,5": expected max,min with max >= min >= 1, e.g. 10,3',
        64,
      ],
      [
        { env: { TASK_SHUTDOWN_TIMEOUT: 'forever' } },
        /^invalid TASK_SHUTDOWN_TIMEOUT "forever" \(from the environment\): expected a duration such as 500ms/,
        78,
      ],
      [{ flags: { maxMemoryPerChildKiB: 'lots' } }, /^invalid --max-memory-per-child "lots": expected a size/, 64],
      [
        { env: { CELERY_BROKER_URL: 'kafka://guest:guest@rabbit//' } },
        'invalid CELERY_BROKER_URL "kafka://guest:***@rabbit//" (from the environment): expected a URL starting with redis://, rediss://, amqp://, amqps:// or pyamqp://',
        78,
      ],
      [
        { env: { TASK_HEARTBEAT_TIMEOUT: '1s', TASK_HEARTBEAT_INTERVAL: '2s' } },
        'invalid TASK_HEARTBEAT_TIMEOUT "1000ms" (from the environment): expected more than TASK_HEARTBEAT_INTERVAL (2000ms)',
        78,
      ],
      [
        { flags: { heartbeatIntervalMs: '40s' } },
        'invalid --heartbeat-interval "40000ms": expected less than --heartbeat-timeout/TASK_HEARTBEAT_TIMEOUT (30000ms)',
        64,
      ],
      [
        { env: { TEMPORAL_TLS_CLIENT_CERT_PATH: 'c.pem' } },
        'missing TEMPORAL_TLS_CLIENT_KEY_PATH: expected it together with TEMPORAL_TLS_CLIENT_CERT_PATH (from the environment)',
        78,
      ],
      [
        { flags: { backend: 'hatchet' } },
        'missing HATCHET_CLIENT_TOKEN: expected an API token: the hatchet backend needs one',
        78,
      ],
      [
        { flags: { backend: 'hatchet' }, env: { HATCHET_CLIENT_TOKEN: 'not-a-jwt.secretpart' } },
        /^invalid HATCHET_CLIENT_TOKEN "\*\*\*" \(from the environment\): expected a valid Hatchet API token \(HATCHET_CLIENT_TOKEN is malformed/,
        78,
      ],
      [
        { env: { TEMPORAL_ADDRESS: 'temporal' } },
        'invalid TEMPORAL_ADDRESS "temporal" (from the environment): expected host:port, e.g. 127.0.0.1:7233',
        78,
      ],
      [{ env: { HATCHET_CLIENT_TLS_STRATEGY: 'ssl' } }, /expected one of tls, mtls, none$/, 78],
    ];
    // No message may show an internal field path (celery.brokerUrl, shutdownTimeoutMs, taskModules).
    const internal = new RegExp(
      SETTINGS.map((r) => r.key)
        .filter((k) => /[.A-Z]/.test(k))
        .map((k) => `\\b${k.replace(/\./g, '\\.')}\\b`)
        .join('|'),
    );
    for (const [input, re, code] of cases) {
      const err = configError(t, () => compile(input));
      if (typeof re === 'string') t.equal(err.message, re);
      else t.match(err.message, re, err.message);
      t.notMatch(err.message, internal, 'no internal field path');
      t.notMatch(err.message, /\n/, 'one line');
      t.equal(err.exitCode, code, `exit ${code}`);
    }
    t.doesNotThrow(
      () =>
        compileConfig({ host, flags: { backend: 'hatchet' }, requireCredentials: false, check: checkBackendSettings }),
      'credentials can be optional (config, list-tasks)',
    );
  },
);

void t.test('the platform’s CELERY_BACKEND_DB_* / DB_* build the database result backend URL', async (t) => {
  const url = (env: Record<string, string>) => compile({ env }).celery.resultBackend;
  t.equal(
    url({ DB_HOST: 'pg', DB_PORT: '6432', DB_NAME: 'app', DB_USER: 'svc', DB_PASSWORD: 'p@ss/w:rd' }),
    'db+postgresql://svc:p%40ss%2Fw%3Ard@pg:6432/app',
    'DB_* alone, the password percent-encoded',
  );
  t.equal(
    url({ CELERY_BACKEND_DB_HOST: 'results', DB_HOST: 'pg', DB_USER: 'svc', CELERY_BACKEND_DB_SCHEMA: 'celery' }),
    'db+postgresql://svc@results:5432/svc?options=-csearch_path%3Dcelery',
    'CELERY_BACKEND_DB_* first, DB_* for the rest; the schema as libpq’s search_path option',
  );
  t.equal(
    url({ CELERY_RESULT_BACKEND: 'redis://r:1/0', DB_HOST: 'pg' }),
    'redis://r:1/0',
    'a result backend URL wins over the parts',
  );
  const { sources, config } = compileSettings({ host, env: { CELERY_BACKEND_DB_PASSWORD: 'sekret', DB_HOST: 'pg' } });
  t.equal(sources['celery.resultBackend'], 'env CELERY_BACKEND_DB_PASSWORD');
  t.notOk(JSON.stringify(redact(config)).includes('sekret'), 'the password never printed');
  t.equal(compile({ env: { CELERY_DATABASE_TABLE_NAMES: 'task=t1,group=g1' } }).celery.databaseTableNames?.length, 2);
  const bad = configError(t, () => compile({ env: { CELERY_DATABASE_TABLE_NAMES: 'tasks=t1' } }));
  t.match(bad.message, /CELERY_DATABASE_TABLE_NAMES/);
  t.match(bad.message, /task=<name>,group=<name>/);
  const scheme = configError(t, () => compile({ env: { CELERY_RESULT_BACKEND: 'db+mysql://u:pw@h/db' } }));
  t.match(scheme.message, /db\+postgresql:\/\//);
  t.notOk(scheme.message.includes(':pw@'), 'the password of a rejected URL is not shown');
});

void t.test('secrets never appear in errors', async (t) => {
  const err1 = configError(t, () => compile({ env: { CELERY_BROKER_URL: 'http://user:hunter2@redis:6379' } }));
  t.notMatch(err1.message, /hunter2/);
  t.match(err1.message, /user:\*\*\*@/);
  const err2 = configError(t, () => compile({ flags: { 'celery.resultBackend': 'redis//:hunter2@x' } }));
  t.notMatch(err2.message, /hunter2/, 'even an unparsable URL-ish value');
  t.equal(err2.value?.includes('hunter2'), false, 'nor in the error fields');
});

void t.test('control socket: the node name, or a 64-bit FNV-1a of it when the path would be too long', async (t) => {
  t.equal(fnv1a64(''), 'cbf29ce484222325', 'FNV-1a 64 offset basis');
  t.equal(fnv1a64('a'), 'af63dc4c8601ec8c');
  t.equal(fnv1a64('foobar'), '85944171f73967e8');
  const host = {
    hostname: 'h',
    cpuCount: 1,
    stdoutIsTTY: false,
    cwd: '/',
    tmpdir: '/tmp',
    runtimeDir: '/run/user/1000',
    uid: 1000,
  };
  t.equal(defaultControlSocket('celery@h', host), '/run/user/1000/task-backend-worker/celery@h.sock');
  const long = `celery@${'x'.repeat(120)}`;
  t.equal(defaultControlSocket(long, host), `/run/user/1000/task-backend-worker/${fnv1a64(long)}.sock`);
  t.not(defaultControlSocket(`${long}y`, host), defaultControlSocket(long, host), 'different names, different sockets');
});
