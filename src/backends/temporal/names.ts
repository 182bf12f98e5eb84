// Task queues and worker identity from the config; shared by the worker and the client without loading the SDK.
import { hostname as osHostname } from 'node:os';
import type { WorkerConfig } from '../../config/types.js';

/** `<hostname>-<child index>@<os host>`; a Celery-style `name@host` hostname keeps its host part. */
export function workerIdentity(hostname: string, index: number, host = osHostname()): string {
  const at = hostname.lastIndexOf('@');
  return at >= 0 ? `${hostname.slice(0, at)}-${index}${hostname.slice(at)}` : `${hostname}-${index}@${host}`;
}

/** -Q wins; otherwise the configured default task queue. */
export function taskQueues(config: Pick<WorkerConfig, 'queues' | 'temporal'>): string[] {
  return config.queues && config.queues.length > 0 ? config.queues : [config.temporal.taskQueue];
}
