// THE settings table: one row per WorkerConfig field. It drives the CLI flags, the environment names, --help,
// sample.env, docs/settings.md and the README's settings section (gunicorn-style: docs come from the table).
// Rows are in dependency order: a computed default may only read settings above it.
import path from 'node:path';
import { BACKEND_SETTINGS } from './settings-backends.js';
import { computed, type HostInfo, type Setting } from './table-types.js';
import { BACKENDS } from './types.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
// Celery's level names keep working: -l WARNING, -l CRITICAL.
const LOG_LEVEL_ALIASES = { warning: 'warn', critical: 'fatal', notset: 'trace' };
/**
 * Celery children: TurboFan inlines at most 300 bytecodes per optimised function instead of V8's 920, so the
 * ~100 hot functions of the message path compile in less CPU on the cores the broker shares (docs/benchmarks.md).
 */
export const CELERY_CHILD_NODE_FLAGS = '--max-inlined-bytecode-size-cumulative=300';

/** Celery's node-name substitutions in -n: %h full host, %n host name part, %d domain part. */
export function expandNodeName(name: string, hostname: string): string {
  const dot = hostname.indexOf('.');
  const short = dot === -1 ? hostname : hostname.slice(0, dot);
  const domain = dot === -1 ? '' : hostname.slice(dot + 1);
  return name.replace(/%[hnd%]/g, (m) => ({ '%h': hostname, '%n': short, '%d': domain, '%%': '%' })[m] ?? m);
}

/**
 * 64-bit FNV-1a as 16 hex digits: a stable short name, not a security measure. Not node:crypto, whose ~20
 * internal modules and OpenSSL pages would cost the long-lived supervisor ~2 MB of resident memory for this.
 */
export function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

/** Unix socket paths are limited to ~107 bytes: long node names fall back to a hash. */
export function defaultControlSocket(nodeName: string, host: HostInfo): string {
  const dir =
    host.runtimeDir !== null
      ? path.join(host.runtimeDir, 'task-backend-worker')
      : path.join(host.tmpdir, `task-backend-worker-${host.uid ?? 'user'}`);
  const safe = nodeName.replace(/[^A-Za-z0-9@._-]/g, '_');
  const full = path.join(dir, `${safe}.sock`);
  if (Buffer.byteLength(full) <= 100) return full;
  return path.join(dir, `${fnv1a64(nodeName)}.sock`);
}

export const SETTINGS: readonly Setting[] = [
  // ── core ──────────────────────────────────────────────────────────────────────────────────────────────
  {
    key: 'backend',
    flag: '--backend <name>',
    env: ['TASK_BACKEND_TYPE'],
    group: 'core',
    type: { kind: 'enum', choices: BACKENDS },
    default: 'celery',
    description: 'Which backend the children run.',
  },
  {
    key: 'concurrency',
    flag: '-c, --concurrency <n>',
    env: ['TASK_WORKER_CONCURRENCY'],
    group: 'core',
    type: { kind: 'int', min: 1, max: 1024 },
    default: computed('number of CPUs', (_g, h) => h.cpuCount),
    description: 'Number of child processes.',
  },
  {
    key: 'childConcurrency',
    flag: '--child-concurrency <n>',
    env: ['TASK_CHILD_CONCURRENCY'],
    group: 'core',
    type: { kind: 'int', min: 1, max: 100_000 },
    default: 64,
    description:
      'Tasks ONE child runs at once (async slots; tasks are I/O-bound promises). ' +
      'Total parallelism = concurrency × child concurrency. Use 1 for CPU-bound tasks.',
  },
  {
    key: 'queues',
    flag: '-Q, --queues <list>',
    env: ['TASK_QUEUES'],
    group: 'core',
    type: { kind: 'list' },
    default: null,
    nullable: true,
    example: 'file_processing,api_processing',
    description:
      'Comma-separated queues to consume (Temporal: task queues). Default: celery → "celery", ' +
      'temporal → TEMPORAL_TASK_QUEUE, hatchet → all registered tasks.',
  },
  {
    key: 'hostname',
    flag: '-n, --hostname <name>',
    env: ['TASK_WORKER_NAME'],
    group: 'core',
    type: { kind: 'string' },
    default: computed('<backend>@<host name>', (get, h) => `${String(get('backend'))}@${h.hostname}`),
    description:
      'Worker node name. %h, %n and %d expand to the host name, its first label and its domain (as in Celery).',
  },
  {
    key: 'taskModules',
    flag: '--tasks <path>',
    env: ['TASK_MODULES'],
    group: 'core',
    type: { kind: 'list', paths: true },
    default: [],
    example: './tasks/index.js',
    description:
      'ES modules exporting tasks and workflows. Repeat the flag, or comma-separate in the environment; ' +
      'relative paths are resolved against the working directory.',
  },
  {
    key: 'builtins',
    flag: '--no-builtins',
    env: ['TASK_NO_BUILTINS'],
    envInverted: true,
    group: 'core',
    type: { kind: 'bool' },
    default: true,
    description: 'Hide the built-in tasks (add_numbers, echo, health_check, ...). TASK_NO_BUILTINS=true does the same.',
  },
  // ── pool, logs, operations ────────────────────────────────────────────────────────────────────────────
  {
    key: 'logLevel',
    flag: '-l, --loglevel <level>',
    env: ['TASK_LOG_LEVEL'],
    group: 'ops',
    type: { kind: 'enum', choices: LOG_LEVELS, aliases: LOG_LEVEL_ALIASES },
    default: 'info',
    description: 'Log level (Celery names such as WARNING and CRITICAL are accepted).',
  },
  {
    key: 'logFormat',
    flag: '--log-format <format>',
    env: ['TASK_LOG_FORMAT'],
    group: 'ops',
    type: { kind: 'enum', choices: ['json', 'pretty'] },
    default: computed('pretty on a terminal, else json', (_g, h) => (h.stdoutIsTTY ? 'pretty' : 'json')),
    description: 'json = one NDJSON object per line (pino); pretty = human-readable.',
  },
  {
    key: 'strictEnv',
    flag: '--strict-env',
    env: ['TASK_STRICT_ENV'],
    group: 'ops',
    type: { kind: 'bool' },
    default: false,
    description:
      'Refuse to start (exit 78) when the environment or the env file has a TASK_, CELERY_, TEMPORAL_ or HATCHET_ ' +
      'name that is not a setting (a typo such as CELERY_BROKER_ULR); without it, one warning line each.',
  },
  {
    key: 'logTasks',
    flag: '--no-log-tasks',
    env: ['TASK_LOG_TASKS'],
    group: 'ops',
    type: { kind: 'bool' },
    default: true,
    description:
      'One INFO line per task event, as a Celery worker logs them: received, succeeded in N s with the result, ' +
      'retry, revoked (failures are logged at ERROR either way). --no-log-tasks or TASK_LOG_TASKS=false moves ' +
      'them to debug, for high-throughput pools.',
  },
  {
    key: 'maxTasksPerChild',
    flag: '--max-tasks-per-child <n>',
    env: ['TASK_MAX_TASKS_PER_CHILD'],
    group: 'ops',
    type: { kind: 'int', min: 1 },
    default: null,
    nullable: true,
    zeroIsNull: true,
    example: '1000',
    description: 'A child drains and is replaced after this many tasks (0 or none = no limit).',
  },
  {
    key: 'maxMemoryPerChildKiB',
    flag: '--max-memory-per-child <size>',
    env: ['TASK_MAX_MEMORY_PER_CHILD'],
    group: 'ops',
    type: { kind: 'size', bare: 'KiB', unit: 'KiB' },
    default: null,
    nullable: true,
    zeroIsNull: true,
    example: '512MiB',
    description:
      'A child whose resident memory exceeds this drains and is replaced. ' +
      'A bare number is KiB (like Celery); 512MB, 512MiB, 1GiB are accepted.',
  },
  {
    key: 'childMaxHeapMiB',
    flag: '--child-max-heap <MiB>',
    env: ['TASK_CHILD_MAX_HEAP'],
    group: 'ops',
    type: { kind: 'int', min: 64, max: 1_048_576 },
    default: null,
    nullable: true,
    zeroIsNull: true,
    example: '1024',
    description:
      'V8 old-space limit of each child in MiB (node --max-old-space-size), so N children cannot ' +
      "over-commit memory. Unset or 0 = auto: half of the machine's (or cgroup's) memory divided by the number " +
      'of children (autoscale max), at least 256 and at most 4096.',
  },
  {
    key: 'childNodeFlags',
    flag: '--child-node-flags <flags>',
    env: ['TASK_CHILD_NODE_FLAGS'],
    group: 'ops',
    type: { kind: 'string' },
    default: computed(`celery: ${CELERY_CHILD_NODE_FLAGS}; temporal, hatchet: none`, (get) =>
      get('backend') === 'celery' ? CELERY_CHILD_NODE_FLAGS : null,
    ),
    nullable: true,
    example: '--max-semi-space-size=32',
    description:
      'Node and V8 flags every child is forked with, space-separated, as `node` takes them (checked with node ' +
      "before the pool starts). Replaces the default; none = V8's own defaults. The Celery default cuts " +
      "TurboFan's inlining budget to a third: a child used ~20 % less CPU over a 10,000-task drain (docs/benchmarks.md).",
  },
  {
    key: 'autoscale',
    flag: '--autoscale <max,min>',
    env: ['TASK_AUTOSCALE'],
    group: 'ops',
    type: { kind: 'autoscale' },
    default: null,
    nullable: true,
    example: '10,3',
    description: 'Grow to max children while all are busy, shrink idle ones down to min.',
  },
  {
    key: 'shutdownTimeoutMs',
    flag: '--shutdown-timeout <duration>',
    env: ['TASK_SHUTDOWN_TIMEOUT'],
    group: 'ops',
    type: { kind: 'duration', unit: 'ms' },
    default: 30_000,
    description: 'Warm shutdown lets in-flight tasks finish for this long, then goes cold.',
  },
  {
    key: 'crashLoopMax',
    flag: '--crash-loop-max <n>',
    env: ['TASK_CRASH_LOOP_MAX'],
    group: 'ops',
    type: { kind: 'int', min: 1 },
    default: 10,
    nullable: true,
    zeroIsNull: true,
    example: '10',
    description:
      'Give up (exit 4) after this many crashes of ready children within --crash-loop-window. ' +
      '0 = never give up (e.g. when something outside kills children on purpose).',
  },
  {
    key: 'crashLoopWindowMs',
    flag: '--crash-loop-window <duration>',
    env: ['TASK_CRASH_LOOP_WINDOW'],
    group: 'ops',
    type: { kind: 'duration', unit: 'ms' },
    default: 60_000,
    description: 'The window in which --crash-loop-max crashes make the pool give up.',
  },
  {
    key: 'deliveryLimit',
    flag: '--delivery-limit <n>',
    env: ['TASK_DELIVERY_LIMIT'],
    group: 'ops',
    type: { kind: 'int', min: 0 },
    default: 2,
    description:
      'How many times a task whose child died while running it (killed, out of memory, heap limit, heartbeat ' +
      'timeout, hard time limit) is given to the pool again. When it dies once more after that, it fails with ' +
      'WorkerLostError naming the reason. A rerun after a lost worker is not a retry: ctx.attempt stays the same.',
  },
  {
    key: 'heartbeatIntervalMs',
    flag: '--heartbeat-interval <duration>',
    env: ['TASK_HEARTBEAT_INTERVAL'],
    group: 'ops',
    type: { kind: 'duration', unit: 'ms', minMs: 10 },
    default: 1000,
    description: 'How often each child reports to the supervisor.',
  },
  {
    key: 'heartbeatTimeoutMs',
    flag: '--heartbeat-timeout <duration>',
    env: ['TASK_HEARTBEAT_TIMEOUT'],
    group: 'ops',
    type: { kind: 'duration', unit: 'ms', minMs: 100 },
    default: 30_000,
    description: 'A child silent for this long is killed and replaced. Must exceed the heartbeat interval.',
  },
  {
    key: 'readyTimeoutMs',
    flag: '--ready-timeout <duration>',
    env: ['TASK_READY_TIMEOUT'],
    group: 'ops',
    type: { kind: 'duration', unit: 'ms', minMs: 100 },
    default: 60_000,
    description: 'A child not ready within this is killed and counted as a boot failure.',
  },
  {
    key: 'controlSocket',
    flag: '--control-socket <path>',
    env: ['TASK_CONTROL_SOCKET'],
    group: 'ops',
    type: { kind: 'path' },
    default: computed(
      '$XDG_RUNTIME_DIR/task-backend-worker/<hostname>.sock, else /tmp/task-backend-worker-<uid>/<hostname>.sock',
      (get, h) => defaultControlSocket(String(get('hostname')), h),
    ),
    description: 'Unix socket the `status` command talks to.',
  },
  {
    key: 'metricsPort',
    flag: '--metrics-port <port>',
    env: ['TASK_METRICS_PORT'],
    group: 'ops',
    type: { kind: 'int', min: 0, max: 65535 },
    default: null,
    nullable: true,
    example: '9808',
    description: 'Serve Prometheus metrics on this port (0 = any free port; unset = off).',
  },
  {
    key: 'metricsHost',
    flag: '--metrics-host <host>',
    env: ['TASK_METRICS_HOST'],
    group: 'ops',
    type: { kind: 'string' },
    default: '127.0.0.1',
    description: 'Address the metrics server listens on.',
  },
  ...BACKEND_SETTINGS,
];
