// The informational replies of Celery's remote control (inspect stats / conf / report / active_queues): what a
// Python prefork worker says about itself, built from the node's snapshot. The commands that act are commands.ts.
import os from 'node:os';
import { redactUrl } from '../../../config/redact.js';
import type { WorkerConfig } from '../../../config/types.js';
import { queuesOf } from '../../registry.js';
import { SW_IDENT, SW_SYS, SW_VER } from '../events.js';
import type { ChildAnswer, NodeEnv } from './commands.js';

export function maskUrl(url: string | null): string | null {
  return url === null ? null : redactUrl(url);
}

export const flatLists = (answers: ChildAnswer[]): unknown[] =>
  answers.flatMap((a) => (Array.isArray(a.data) ? a.data : []));

export function queueInfo(name: string, c: WorkerConfig['celery']): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (c.queueType === 'quorum') args['x-queue-type'] = 'quorum';
  else if (c.queueMaxPriority !== null) args['x-max-priority'] = c.queueMaxPriority;
  const amqp = /^(amqps?|pyamqp):/i.test(c.brokerUrl);
  return {
    name,
    exchange: {
      name,
      type: amqp ? c.exchangeType : 'direct',
      arguments: null,
      durable: true,
      passive: false,
      auto_delete: false,
      delivery_mode: null,
      no_declare: false,
    },
    routing_key: name,
    queue_arguments: amqp && Object.keys(args).length > 0 ? args : null,
    binding_arguments: null,
    consumer_arguments: null,
    durable: true,
    exclusive: false,
    auto_delete: false,
    no_ack: false,
    alias: null,
    bindings: [],
    no_declare: null,
    expires: null,
    message_ttl: null,
    max_length: null,
    max_length_bytes: null,
    max_priority: amqp && c.queueType === 'classic' ? c.queueMaxPriority : null,
  };
}

/**
 * stats.pool as billiard's prefork pool reports it; `writes` counts the tasks handed to each live child (`raw`),
 * their shares (`all`, `avg`) and how many children run something now (`inqueues.active`).
 */
function poolInfo(env: NodeEnv, cfg: WorkerConfig): Record<string, unknown> {
  const pool = env.pool();
  const live = pool.children.filter((c) => c.pid !== null && c.state === 'ready');
  const raw = live.map((c) => env.counters.writes(c.gen));
  const total = raw.reduce((a, b) => a + b, 0);
  const per = (n: number): string => `${total === 0 ? '0.00' : ((n / total) * 100).toFixed(2)}%`;
  return {
    implementation: 'task-backend-worker:prefork',
    'max-concurrency': pool.target,
    'child-concurrency': cfg.childConcurrency,
    processes: live.map((c) => c.pid),
    'max-tasks-per-child': cfg.maxTasksPerChild ?? 'N/A',
    'put-guarded-by-semaphore': false,
    // No pool-wide default time limits: a task's own, a message's or `control time_limit`'s apply.
    timeouts: [0, 0],
    writes: {
      total,
      avg: per(raw.length === 0 ? 0 : total / raw.length),
      all: raw.map(per).join(', '),
      raw: raw.join(', '),
      strategy: 'fair',
      inqueues: { total: live.length, active: live.filter((c) => (c.active ?? 0) > 0).length },
    },
  };
}

export async function stats(env: NodeEnv): Promise<Record<string, unknown>> {
  const cfg = env.config();
  const pool = env.pool();
  const broker = brokerInfo(cfg.celery.brokerUrl);
  const ru = process.resourceUsage();
  return {
    total: env.counters.totals(),
    pid: process.pid,
    clock: String(env.clock()),
    uptime: Math.round((env.now() - env.startedAt) / 1000),
    pool: poolInfo(env, cfg),
    broker: {
      ...broker,
      insist: false,
      transport: env.transport,
      connect_timeout: cfg.celery.brokerConnectTimeoutS,
      transport_options: env.transport === 'redis' ? { visibility_timeout: cfg.celery.visibilityTimeoutS } : {},
      login_method: env.transport === 'redis' ? null : 'PLAIN',
      uri_prefix: null,
      heartbeat: cfg.celery.brokerHeartbeatS,
      failover_strategy: 'round-robin',
      alternates: [],
    },
    prefetch_count: pool.target * cfg.childConcurrency * cfg.celery.prefetchMultiplier,
    // The supervisor's own figures, like a prefork worker's main process (children report rss in heartbeats).
    rusage: {
      utime: ru.userCPUTime / 1e6,
      stime: ru.systemCPUTime / 1e6,
      maxrss: ru.maxRSS,
      ixrss: ru.sharedMemorySize,
      idrss: ru.unsharedDataSize,
      isrss: ru.unsharedStackSize,
      minflt: ru.minorPageFault,
      majflt: ru.majorPageFault,
      nswap: ru.swappedOut,
      inblock: ru.fsRead,
      oublock: ru.fsWrite,
      msgsnd: ru.ipcSent,
      msgrcv: ru.ipcReceived,
      nsignals: ru.signalsCount,
      nvcsw: ru.voluntaryContextSwitches,
      nivcsw: ru.involuntaryContextSwitches,
    },
  };
}

/** kombu's view of the broker URL (connection.info()): host, user, vhost, port, TLS. */
function brokerInfo(url: string): Record<string, unknown> {
  const u = new URL(url);
  const amqp = !u.protocol.startsWith('redis');
  const tls = u.protocol === 'rediss:' || u.protocol === 'amqps:';
  const path = u.pathname.replace(/^\//, '');
  return {
    hostname: u.hostname,
    // A lone user part (redis://secret@host) may be a password: only name a user that has a separate password.
    userid: amqp ? decodeURIComponent(u.username) || 'guest' : u.password ? u.username || null : null,
    virtual_host: amqp ? (path === '' ? '/' : decodeURIComponent(path)) : path || '0',
    port: Number(u.port || (amqp ? (tls ? 5671 : 5672) : 6379)),
    ssl: tls,
  };
}

export function conf(env: NodeEnv): Record<string, unknown> {
  const c = env.config();
  return {
    broker_url: maskUrl(c.celery.brokerUrl),
    result_backend: maskUrl(c.celery.resultBackend),
    result_expires: c.celery.resultExpiresS,
    result_extended: c.celery.resultExtended,
    task_acks_late: c.celery.acksLate,
    task_track_started: c.celery.trackStarted,
    worker_send_task_events: env.events?.taskEvents ?? c.celery.sendEvents,
    worker_concurrency: c.concurrency,
    worker_prefetch_multiplier: c.celery.prefetchMultiplier,
    worker_max_tasks_per_child: c.maxTasksPerChild,
    worker_max_memory_per_child: c.maxMemoryPerChildKiB,
    broker_transport_options: env.transport === 'redis' ? { visibility_timeout: c.celery.visibilityTimeoutS } : {},
    task_acks_on_failure_or_timeout: c.celery.acksOnFailureOrTimeout,
    task_default_queue_type: c.celery.queueType,
    task_default_exchange_type: c.celery.exchangeType,
    task_queue_max_priority: c.celery.queueMaxPriority,
    broker_heartbeat: c.celery.brokerHeartbeatS,
    task_queues: queuesOf(c, 'celery'),
    include: c.taskModules,
  };
}

export function report(env: NodeEnv): string {
  const p = env.pool();
  return [
    `software -> ${SW_IDENT}:${SW_VER} (node ${process.version}) kombu:${env.transport}`,
    `platform -> system:${SW_SYS} arch:${os.arch()} release:${os.release()}`,
    `node -> ${env.nodename} pid:${process.pid}`,
    `pool -> ${p.target} children x ${env.config().childConcurrency} slots`,
    `broker -> ${maskUrl(env.config().celery.brokerUrl) ?? ''}`,
    `queues -> ${queuesOf(env.config(), 'celery').join(', ')}`,
  ].join('\n');
}

/** The names of the tasks the children run (the first answer that lists any: every child loads the same modules). */
