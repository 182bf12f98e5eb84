// The settings table's backend rows (Celery, Temporal, Hatchet), in table order after the core and ops rows of
// settings.ts, which spreads them into SETTINGS. Same rules: a computed default may only read settings above it.
import { databaseUrlFromParts, DB_PARTS, spliceCredentials } from './compose-urls.js';
import { AMQP_SETTINGS } from './settings-amqp.js';
import { computed, type Setting } from './table-types.js';

export const BACKEND_SETTINGS: readonly Setting[] = [
  // ── celery ────────────────────────────────────────────────────────────────────────────────────────────
  {
    key: 'celery.brokerUrl',
    flag: '-b, --broker <url>',
    env: ['CELERY_BROKER_URL'],
    group: 'celery',
    // The platform's split form: the base URL with the user and password spliced in (never printed).
    compose: {
      env: ['CELERY_BROKER_BASE_URL', 'CELERY_BROKER_USER', 'CELERY_BROKER_PASS'],
      doc: 'CELERY_BROKER_BASE_URL with CELERY_BROKER_USER and CELERY_BROKER_PASS spliced in',
      build: (v) => spliceCredentials(v.CELERY_BROKER_BASE_URL ?? '', v.CELERY_BROKER_USER, v.CELERY_BROKER_PASS),
    },
    type: { kind: 'url', protocols: ['redis:', 'rediss:', 'amqp:', 'amqps:', 'pyamqp:'] },
    default: 'redis://127.0.0.1:6379/0',
    description:
      'Broker URL: Redis (redis://, rediss://) or RabbitMQ (amqp://, amqps://, pyamqp://; `//` is the vhost "/"). ' +
      'TLS options go in the query (ssl_ca_certs, ssl_certfile, ssl_keyfile, ssl_cert_reqs, ssl_check_hostname); ' +
      'a password in it is never printed. Give a URL with a password in CELERY_BROKER_URL or the env file, not as ' +
      'a flag: other users can read a command line in ps.',
  },
  {
    key: 'celery.resultBackend',
    flag: '--result-backend <url>',
    env: ['CELERY_RESULT_BACKEND'],
    group: 'celery',
    compose: {
      env: [
        ...DB_PARTS.map((p) => `CELERY_BACKEND_DB_${p}`),
        ...DB_PARTS.filter((p) => p !== 'SCHEMA').map((p) => `DB_${p}`),
      ],
      doc: 'CELERY_BACKEND_DB_HOST/_PORT/_NAME/_USER/_PASSWORD/_SCHEMA, each else DB_HOST/_PORT/...',
      build: databaseUrlFromParts,
    },
    type: {
      kind: 'url',
      protocols: ['redis:', 'rediss:', 'rpc:', 'db+postgresql:', 'db+postgresql+psycopg2:', 'db+postgresql+psycopg:'],
    },
    nullable: true,
    default: computed('the broker URL (Redis), rpc:// (RabbitMQ)', (get) => {
      const broker = String(get('celery.brokerUrl'));
      return /^(amqps?|pyamqp):/i.test(broker) ? 'rpc://' : broker;
    }),
    description:
      "Result backend URL: redis[s]://, rpc:// (results sent to the caller's reply queue; needs a RabbitMQ broker) " +
      "or db+postgresql[+psycopg2|+psycopg]:// (Celery's database backend); " +
      '"none" disables results. A password: as for --broker.',
  },
  {
    key: 'celery.resultExpiresS',
    env: ['CELERY_RESULT_EXPIRES'],
    group: 'celery',
    type: { kind: 'duration', unit: 's', minMs: 1000 },
    default: 86_400,
    description: 'How long results are kept (Celery result_expires).',
  },
  {
    key: 'celery.resultExtended',
    env: ['CELERY_RESULT_EXTENDED'],
    group: 'celery',
    type: { kind: 'bool' },
    default: false,
    description: 'Store name, args, kwargs, worker, retries and queue with each result (Celery result_extended).',
  },
  {
    key: 'celery.resultCleanupIntervalS',
    env: ['CELERY_RESULT_CLEANUP_INTERVAL'],
    group: 'celery',
    type: { kind: 'duration', unit: 's', minMs: 1000 },
    nullable: true,
    zeroIsNull: true,
    default: 3600,
    description:
      'How often the pool deletes expired rows of the database result backend (celery.backend_cleanup); 0 = never.',
  },
  {
    key: 'celery.chordRetryIntervalS',
    env: ['CELERY_RESULT_CHORD_RETRY_INTERVAL'],
    group: 'celery',
    type: { kind: 'duration', unit: 's', minMs: 10 },
    default: 1,
    description: "How often celery.chord_unlock looks at a chord's header again (Celery result_chord_retry_interval).",
  },
  {
    key: 'celery.databasePoolSize',
    env: ['CELERY_DATABASE_POOL_SIZE'],
    group: 'celery',
    type: { kind: 'int', min: 1, max: 100 },
    default: 4,
    description: 'Connections each child keeps to the database result backend, at most.',
  },
  {
    key: 'celery.databaseTableNames',
    env: ['CELERY_DATABASE_TABLE_NAMES'],
    group: 'celery',
    type: { kind: 'list' },
    default: [],
    example: 'task=myapp_taskmeta,group=myapp_groupmeta',
    description: 'Table names of the database result backend (Celery database_table_names).',
  },
  {
    key: 'celery.databaseTableSchemas',
    env: ['CELERY_DATABASE_TABLE_SCHEMAS'],
    group: 'celery',
    type: { kind: 'list' },
    default: [],
    example: 'task=celery,group=celery',
    description: 'Schemas of those tables (Celery database_table_schemas); default: the search_path.',
  },
  {
    key: 'celery.databasePickleResults',
    env: ['CELERY_DATABASE_PICKLE_RESULTS'],
    group: 'celery',
    type: { kind: 'bool' },
    default: false,
    description:
      'Write database results as pickles (PickleType), for Python clients on Celery 5.6 or older; they cannot read ' +
      "the default (JSON, as Celery 5.7 writes with result_serializer='json'). Both are always read. Celery 5.7 " +
      'clients read pickles too, with a warning per result.',
  },
  {
    key: 'celery.acksLate',
    env: ['CELERY_ACKS_LATE'],
    group: 'celery',
    type: { kind: 'bool' },
    default: true,
    description: 'Acknowledge a message after its task finishes (a crash redelivers it), not on receipt.',
  },
  {
    key: 'celery.rejectOnWorkerLost',
    env: ['CELERY_TASK_REJECT_ON_WORKER_LOST'],
    group: 'celery',
    type: { kind: 'bool' },
    default: false,
    description:
      "Celery's task_reject_on_worker_lost. A task whose child died under it runs again up to --delivery-limit " +
      'times either way; at the limit it fails with WorkerLostError and goes to the dead-letter list (false), or ' +
      'goes to the dead-letter list with no result stored, as a broker delivery limit would drop it (true).',
  },
  {
    key: 'celery.acksOnFailureOrTimeout',
    env: ['CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT', 'CELERY_ACKS_ON_FAILURE_OR_TIMEOUT'],
    group: 'celery',
    type: { kind: 'bool' },
    default: true,
    description:
      "Celery's task_acks_on_failure_or_timeout: a failed or timed-out task's message is acknowledged. false: it " +
      "is rejected instead (kept in the dead-letter list; RabbitMQ: to the queue's dead-letter exchange), and a " +
      'task killed at its hard time limit is given back and rerun like a lost worker, up to --delivery-limit.',
  },
  // RabbitMQ's rows (settings-amqp.ts), here in table order.
  ...AMQP_SETTINGS,
  {
    key: 'celery.visibilityTimeoutS',
    env: ['CELERY_VISIBILITY_TIMEOUT'],
    group: 'celery',
    type: { kind: 'duration', unit: 's', minMs: 1000 },
    default: 3600,
    description:
      'An unacknowledged message is given to another worker after this (kombu visibility_timeout). ' +
      'Must exceed your longest task.',
  },
  {
    key: 'celery.trackStarted',
    env: ['CELERY_TRACK_STARTED'],
    group: 'celery',
    type: { kind: 'bool' },
    default: false,
    description: 'Report the STARTED state (Celery task_track_started).',
  },
  {
    key: 'celery.storeErrorsEvenIfIgnored',
    env: ['CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED'],
    group: 'celery',
    type: { kind: 'bool' },
    default: false,
    description:
      'Store FAILURE and RETRY of a task sent with ignore_result=True (Celery task_store_errors_even_if_ignored).',
  },
  {
    key: 'celery.sendEvents',
    flag: '-E, --events',
    env: ['CELERY_SEND_EVENTS'],
    group: 'celery',
    type: { kind: 'bool' },
    default: false,
    description:
      'Send Celery task events (Flower, celery events); worker events (online, heartbeat, offline) always go out.',
  },
  {
    key: 'celery.maxMessageBytes',
    env: ['CELERY_MAX_MESSAGE_SIZE'],
    group: 'celery',
    type: { kind: 'size', bare: 'B', unit: 'B' },
    default: 10 * 1024 * 1024,
    description: 'Largest message body accepted; a larger one fails and goes to the dead-letter list.',
  },
  {
    key: 'celery.deadLetterKey',
    env: ['CELERY_DEAD_LETTER_KEY'],
    group: 'celery',
    type: { kind: 'string' },
    default: 'tbw.dead_letter',
    description:
      'Redis list (RabbitMQ: durable queue of JSON records) that receives messages that cannot be run ' +
      '(undecodable, too large, lost workers past the delivery limit). Each entry keeps the headers and the ' +
      "first 64 KiB of the body. RabbitMQ also rejects them without requeue: to the queue's dead-letter exchange.",
  },
  {
    key: 'celery.deadLetterMax',
    env: ['CELERY_DEAD_LETTER_MAX'],
    group: 'celery',
    type: { kind: 'int', min: 0 },
    default: 10_000,
    description: 'Most entries the dead-letter list keeps (the newest; RabbitMQ: its x-max-length); 0 = no cap.',
  },
  // ── temporal ──────────────────────────────────────────────────────────────────────────────────────────
  {
    key: 'temporal.address',
    flag: '--temporal-address <host:port>',
    env: ['TEMPORAL_ADDRESS'],
    group: 'temporal',
    compose: {
      env: ['TEMPORAL_HOST', 'TEMPORAL_PORT'],
      doc: 'TEMPORAL_HOST + TEMPORAL_PORT',
      // The original service split host and port; a TEMPORAL_HOST that already has a port is used as is.
      build: (v) => {
        const host = v.TEMPORAL_HOST ?? '127.0.0.1';
        if (v.TEMPORAL_PORT === undefined && /:\d+$/.test(host)) return host;
        return `${host}:${v.TEMPORAL_PORT ?? '7233'}`;
      },
    },
    type: { kind: 'hostport' },
    default: '127.0.0.1:7233',
    description: 'Temporal frontend address.',
  },
  {
    key: 'temporal.namespace',
    flag: '--temporal-namespace <name>',
    env: ['TEMPORAL_NAMESPACE'],
    group: 'temporal',
    type: { kind: 'string' },
    default: 'default',
    description: 'Temporal namespace.',
  },
  {
    key: 'temporal.taskQueue',
    env: ['TEMPORAL_TASK_QUEUE'],
    group: 'temporal',
    type: { kind: 'string' },
    default: 'default',
    description: 'Task queue polled when -Q is not given.',
  },
  {
    key: 'temporal.apiKey',
    env: ['TEMPORAL_API_KEY'],
    group: 'temporal',
    type: { kind: 'string' },
    default: null,
    nullable: true,
    secret: true,
    description: 'API key (Temporal Cloud). Turns TLS on by default.',
  },
  {
    key: 'temporal.tls.clientCertPath',
    env: ['TEMPORAL_TLS_CLIENT_CERT_PATH'],
    group: 'temporal',
    type: { kind: 'path' },
    default: null,
    nullable: true,
    description: 'Client certificate (PEM) for mTLS; needs TEMPORAL_TLS_CLIENT_KEY_PATH.',
  },
  {
    key: 'temporal.tls.clientKeyPath',
    env: ['TEMPORAL_TLS_CLIENT_KEY_PATH'],
    group: 'temporal',
    type: { kind: 'path' },
    default: null,
    nullable: true,
    description: 'Client private key (PEM) for mTLS.',
  },
  {
    key: 'temporal.tls.serverCaCertPath',
    env: ['TEMPORAL_TLS_SERVER_CA_CERT_PATH'],
    group: 'temporal',
    type: { kind: 'path' },
    default: null,
    nullable: true,
    description: 'CA certificate (PEM) that signed the server certificate, if not a public CA.',
  },
  {
    key: 'temporal.tls.serverName',
    env: ['TEMPORAL_TLS_SERVER_NAME'],
    group: 'temporal',
    type: { kind: 'string' },
    default: null,
    nullable: true,
    description: 'Server name to verify (SNI) when it differs from the address host.',
  },
  {
    key: 'temporal.tls.enabled',
    env: ['TEMPORAL_TLS'],
    group: 'temporal',
    type: { kind: 'bool' },
    default: computed(
      'on when TEMPORAL_API_KEY or a client certificate is set',
      (get) => get('temporal.apiKey') !== null || get('temporal.tls.clientCertPath') !== null,
    ),
    description: 'Connect with TLS.',
  },
  {
    key: 'temporal.maxCachedWorkflows',
    env: ['TEMPORAL_MAX_CACHED_WORKFLOWS'],
    group: 'temporal',
    type: { kind: 'int', min: 0 },
    default: 200,
    description: 'Workflows each child keeps cached (sticky execution); memory grows with it.',
  },
  // ── hatchet ───────────────────────────────────────────────────────────────────────────────────────────
  {
    key: 'hatchet.token',
    env: ['HATCHET_CLIENT_TOKEN'],
    group: 'hatchet',
    type: { kind: 'string' },
    default: null,
    nullable: true,
    secret: true,
    description: 'API token (required for the hatchet backend); it also carries the server addresses.',
  },
  {
    key: 'hatchet.hostPort',
    env: ['HATCHET_CLIENT_HOST_PORT'],
    group: 'hatchet',
    type: { kind: 'hostport' },
    default: null,
    nullable: true,
    example: '127.0.0.1:7077',
    description: 'gRPC address of the Hatchet engine (default: from the token).',
  },
  {
    key: 'hatchet.apiUrl',
    env: ['HATCHET_CLIENT_API_URL', 'HATCHET_CLIENT_SERVER_URL'],
    group: 'hatchet',
    type: { kind: 'url', protocols: ['http:', 'https:'] },
    default: null,
    nullable: true,
    example: 'http://127.0.0.1:8888',
    description: 'REST API URL of Hatchet (default: from the token).',
  },
  {
    key: 'hatchet.tlsStrategy',
    env: ['HATCHET_CLIENT_TLS_STRATEGY'],
    group: 'hatchet',
    type: { kind: 'enum', choices: ['tls', 'mtls', 'none'] },
    default: null,
    nullable: true,
    description: 'TLS to the engine (SDK default: tls).',
  },
  {
    key: 'hatchet.namespace',
    env: ['HATCHET_CLIENT_NAMESPACE'],
    group: 'hatchet',
    type: { kind: 'string' },
    default: null,
    nullable: true,
    description: 'Prefix Hatchet puts on workflow and event names.',
  },
];
