// The settings table's Celery-on-RabbitMQ rows (prefetch, queue and exchange declarations, AMQP heartbeat and
// connect timeout), spread into BACKEND_SETTINGS in table order.
import type { Setting } from './table-types.js';

export const AMQP_SETTINGS: readonly Setting[] = [
  {
    key: 'celery.prefetchMultiplier',
    env: ['CELERY_PREFETCH_MULTIPLIER', 'CELERY_WORKER_PREFETCH_MULTIPLIER'],
    group: 'celery',
    type: { kind: 'int', min: 1, max: 1000 },
    default: 1,
    description:
      'Unacknowledged messages a child holds = its slots × this (RabbitMQ basic.qos prefetch). ' +
      'Celery worker_prefetch_multiplier.',
  },
  {
    key: 'celery.queueType',
    env: ['CELERY_QUEUE_TYPE', 'CELERY_DEFAULT_QUEUE_TYPE'],
    group: 'celery',
    compose: {
      env: ['RABBITMQ_HA_ENABLED'],
      doc: 'RABBITMQ_HA_ENABLED=true → quorum',
      build: (v) => (/^(1|true|yes|on)$/i.test((v.RABBITMQ_HA_ENABLED ?? '').trim()) ? 'quorum' : 'classic'),
    },
    type: { kind: 'enum', choices: ['classic', 'quorum'] },
    default: 'classic',
    description:
      'RabbitMQ: type of the queues this worker declares (Celery task_default_queue_type). quorum also sets up ' +
      "native delayed delivery, as Celery's workers do.",
  },
  {
    key: 'celery.queueMaxPriority',
    env: ['CELERY_QUEUE_MAX_PRIORITY'],
    group: 'celery',
    type: { kind: 'int', min: 1, max: 255 },
    default: null,
    nullable: true,
    example: '10',
    description:
      'RabbitMQ: x-max-priority of the classic queues this worker declares (Celery task_queue_max_priority).',
  },
  {
    key: 'celery.exchangeType',
    env: ['CELERY_DEFAULT_EXCHANGE_TYPE'],
    group: 'celery',
    type: { kind: 'enum', choices: ['direct', 'topic', 'fanout'] },
    default: 'direct',
    description:
      'RabbitMQ: type of the exchange declared per queue (Celery task_default_exchange_type). ' +
      'Native delayed delivery needs topic or fanout.',
  },
  {
    key: 'celery.brokerHeartbeatS',
    env: ['CELERY_BROKER_HEARTBEAT'],
    group: 'celery',
    type: { kind: 'int', min: 0, max: 3600 },
    default: 120,
    description: 'RabbitMQ: AMQP heartbeat, seconds; 0 turns it off (Celery broker_heartbeat).',
  },
  {
    key: 'celery.brokerConnectTimeoutS',
    env: ['CELERY_BROKER_CONNECTION_TIMEOUT'],
    group: 'celery',
    type: { kind: 'duration', unit: 's', minMs: 100 },
    default: 4,
    description: 'RabbitMQ: how long one connection attempt may take (Celery broker_connection_timeout).',
  },
];
