// compileConfig for Celery on RabbitMQ: the platform's split broker URL (CELERY_BROKER_BASE_URL + USER + PASS),
// rpc:// results by default on an AMQP broker, quorum queues from RABBITMQ_HA_ENABLED, the prefetch alias.
import t from 'tap';
import { checkBackendSettings } from '../../src/backends/registry.js';
import { compileConfig, compileSettings, type CompileInput } from '../../src/config/compile.js';
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
const compile = (input: Partial<CompileInput> = {}) => compileConfig({ host, check: checkBackendSettings, ...input });

void t.test(
  "RabbitMQ: the platform's split broker URL, rpc:// results by default, quorum from RABBITMQ_HA_ENABLED",
  async (t) => {
    const env = {
      CELERY_BROKER_BASE_URL: 'amqp://unstract-rabbitmq:5672//',
      CELERY_BROKER_USER: 'admin',
      CELERY_BROKER_PASS: 'p@ss:w/rd',
    };
    const c = compile({ env });
    t.equal(
      c.celery.brokerUrl,
      'amqp://admin:p%40ss%3Aw%2Frd@unstract-rabbitmq:5672//',
      'credentials spliced in, encoded',
    );
    t.equal(c.celery.resultBackend, 'rpc://', 'an AMQP broker defaults to rpc:// results');
    t.equal(
      compile({ env: { ...env, CELERY_BROKER_BASE_URL: 'amqp://old:old@rabbit:5672/vh' } }).celery.brokerUrl,
      'amqp://admin:p%40ss%3Aw%2Frd@rabbit:5672/vh',
      'a user part already in the base is replaced',
    );
    t.equal(
      compile({ env: { ...env, CELERY_BROKER_URL: 'amqp://x:y@other//' } }).celery.brokerUrl,
      'amqp://x:y@other//',
      'CELERY_BROKER_URL wins over the split form',
    );
    const { sources } = compileSettings({ host, env });
    t.equal(sources['celery.brokerUrl'], 'env CELERY_BROKER_BASE_URL');
    t.equal(compile({ env: { RABBITMQ_HA_ENABLED: 'true' } }).celery.queueType, 'quorum');
    t.equal(compile({ env: { RABBITMQ_HA_ENABLED: 'false' } }).celery.queueType, 'classic');
    t.equal(
      compile({ env: { RABBITMQ_HA_ENABLED: 'true', CELERY_QUEUE_TYPE: 'classic' } }).celery.queueType,
      'classic',
    );
    t.equal(compile({ env: { CELERY_WORKER_PREFETCH_MULTIPLIER: '4' } }).celery.prefetchMultiplier, 4, 'alias');
    t.equal(compile({ flags: { 'celery.resultBackend': 'rpc://' }, env }).celery.resultBackend, 'rpc://');
  },
);
