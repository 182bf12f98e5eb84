// The compiled, validated configuration every part of the program reads. Produced in ONE place
// (src/config/compile.ts) from the settings table (src/config/settings.ts); nothing else parses env or flags.

/** The backends this program runs (src/backends/registry.ts maps each to its parts). */
export type BackendName = 'celery' | 'temporal' | 'hatchet';
export const BACKENDS: readonly BackendName[] = ['celery', 'temporal', 'hatchet'];

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export type LogFormat = 'json' | 'pretty';

export interface CeleryConfig {
  /** redis://, rediss://, amqp://, amqps:// or pyamqp:// URL (may carry a password: secret). */
  brokerUrl: string;
  /** Redis or rpc:// result backend URL; defaults to the broker URL (rpc:// for RabbitMQ). null = disabled. */
  resultBackend: string | null;
  /** Result expiry, seconds (Celery's result_expires, default 1 day). */
  resultExpiresS: number;
  /** Store Celery's extended result fields (name, args, kwargs, worker, retries, queue). */
  resultExtended: boolean;
  // The database result store's settings (optional: configs built before they existed get the table defaults).
  /** Seconds between deletions of expired database results (celery.backend_cleanup); null = never. */
  resultCleanupIntervalS?: number | null;
  /** Seconds between celery.chord_unlock's looks at a chord header (result_chord_retry_interval). */
  chordRetryIntervalS?: number;
  /** Most connections one child keeps to the database result backend. */
  databasePoolSize?: number;
  /** `task=<name>` / `group=<name>` (database_table_names). */
  databaseTableNames?: readonly string[];
  /** `task=<schema>` / `group=<schema>` (database_table_schemas). */
  databaseTableSchemas?: readonly string[];
  /** Write the database backend's results as pickles (Celery ≤ 5.6 clients) instead of JSON (Celery 5.7). */
  databasePickleResults?: boolean;
  /** Ack after the task finishes (default) instead of on receipt. */
  acksLate: boolean;
  /**
   * Celery's task_reject_on_worker_lost: a task whose worker was lost goes back to the queue instead of failing.
   * Here reruns happen up to --delivery-limit either way; this only decides the end: dead-lettered with no FAILURE
   * stored (true), or FAILURE WorkerLostError and dead-lettered (false, the default).
   */
  rejectOnWorkerLost: boolean;
  /**
   * Celery's task_acks_on_failure_or_timeout (default true): a failed or timed-out task's message is acked. false:
   * it is rejected without requeue instead (our dead-letter list; a hard time limit is requeued like a lost worker).
   */
  acksOnFailureOrTimeout: boolean;
  /** Seconds before a held (unacked) message is restored by any worker (kombu's visibility_timeout). */
  visibilityTimeoutS: number;
  /** Report STARTED (task_track_started). */
  trackStarted: boolean;
  /** Celery task_store_errors_even_if_ignored: FAILURE/RETRY stored even when the message says ignore_result. */
  storeErrorsEvenIfIgnored: boolean;
  /** Send Celery events (-E). */
  sendEvents: boolean;
  /** Largest message body accepted, bytes; larger → FAILURE + dead letter. */
  maxMessageBytes: number;
  /** Redis list that receives messages that cannot be run. */
  deadLetterKey: string;
  /** Unacked messages per child = slots × this (worker_prefetch_multiplier). */
  prefetchMultiplier: number;
  /** RabbitMQ: declared queue type (task_default_queue_type). */
  queueType: 'classic' | 'quorum';
  /** RabbitMQ: x-max-priority of declared classic queues; null = none. */
  queueMaxPriority: number | null;
  /** RabbitMQ: type of the per-queue exchange (task_default_exchange_type). */
  exchangeType: 'direct' | 'topic' | 'fanout';
  /** RabbitMQ: AMQP heartbeat, seconds (0 = off). */
  brokerHeartbeatS: number;
  /** RabbitMQ: one connection attempt's timeout, seconds. */
  brokerConnectTimeoutS: number;
  /** Most entries the dead-letter list keeps (the newest); 0 = no cap. */
  deadLetterMax: number;
  /**
   * Not a setting: per-task limits set at run time by remote control (`celery control rate_limit / time_limit`),
   * handed to children forked later by the pool extension (src/backends/celery/extension.ts).
   */
  taskLimits?: Readonly<Record<string, TaskLimits>>;
  /**
   * Not a setting: the pool's private directory where each child keeps the record of the task ids it runs
   * (src/backends/celery/run-record.ts), set by the pool extension on brokers that count every return (AMQP).
   */
  runsDir?: string;
}

/** Celery's per-task-name limits as remote control sets them (a task's rate_limit, soft_time_limit, time_limit). */
export interface TaskLimits {
  /** Celery rate string (`10/s`, `2/m`, `1/h`, a bare number = per second); null = none. */
  rateLimit: string | null;
  /** Set by `time_limit` (seconds; null = no such limit); null = never set: the task's own limits apply. */
  time: { softS: number | null; hardS: number | null } | null;
}

export interface TemporalConfig {
  /** host:port */
  address: string;
  namespace: string;
  /** Default task queue when -Q is not given. */
  taskQueue: string;
  apiKey: string | null;
  tls: {
    clientCertPath: string | null;
    clientKeyPath: string | null;
    serverCaCertPath: string | null;
    serverName: string | null;
    enabled: boolean;
  };
  /** Workflow cache size per child (sticky executions). */
  maxCachedWorkflows: number;
}

export interface HatchetConfig {
  token: string | null;
  hostPort: string | null;
  apiUrl: string | null;
  tlsStrategy: 'tls' | 'mtls' | 'none' | null;
  namespace: string | null;
}

export interface WorkerConfig {
  backend: BackendName;
  /** Number of child processes. */
  concurrency: number;
  /** Tasks one child runs at once (async slots). */
  childConcurrency: number;
  /** Queues to consume; null = the backend's default (celery: ["celery"], temporal: [taskQueue]). */
  queues: string[] | null;
  /** Worker node name, e.g. celery@host. */
  hostname: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Unknown TASK_/CELERY_/TEMPORAL_/HATCHET_ names are a boot error instead of a warning. Optional: older configs. */
  strictEnv?: boolean;
  /** Per-task INFO lines (received, succeeded, retry, revoked); false = at debug. Optional: older configs (true). */
  logTasks?: boolean;
  maxTasksPerChild: number | null;
  maxMemoryPerChildKiB: number | null;
  /** V8 old-space limit per child, MiB (--max-old-space-size); null = auto (src/supervisor/heap.ts). Optional: older configs. */
  childMaxHeapMiB?: number | null;
  /** Node/V8 flags every child is forked with, space-separated; null = none. Optional: older configs (none). */
  childNodeFlags?: string | null;
  autoscale: { max: number; min: number } | null;
  shutdownTimeoutMs: number;
  /** Give up (exit CRASH_LOOP) after this many crashes of ready children within crashLoopWindowMs; null = never. */
  crashLoopMax?: number | null;
  crashLoopWindowMs?: number;
  /** Reruns of a task whose child died while running it; one more death fails it with WorkerLostError. */
  deliveryLimit: number;
  heartbeatTimeoutMs: number;
  /** How often a child sends a heartbeat. */
  heartbeatIntervalMs: number;
  readyTimeoutMs: number;
  /** Absolute paths of user task modules (ES modules). */
  taskModules: string[];
  builtins: boolean;
  controlSocket: string;
  metricsPort: number | null;
  metricsHost: string;
  celery: CeleryConfig;
  temporal: TemporalConfig;
  hatchet: HatchetConfig;
}
