// The references every execution and every ending of one consumer share, built once: the execution environment,
// the endings environment, and one Canvas per queue (chords, chains and workflows publish back to the queue their
// message came from). Wiring only; what runs when is the consumer's business (consumer.ts).
import type { Logger } from 'pino';
import type { CeleryConfig } from '../../config/types.js';
import type { Registry } from '../../tasks/registry.js';
import { Canvas } from './canvas.js';
import type { EndingsEnv } from './endings.js';
import type { ExecEnv, Execution, Held } from './execute.js';
import type { TaskLimitsView } from './limits.js';
import type { ResultStore } from './results.js';
import type { SettleableDelivery, Transport } from './transport.js';

export interface WiringOptions {
  worker: string;
  cfg: CeleryConfig;
  registry: Registry;
  logger: Logger;
  coldSignal: AbortSignal;
  now(): number;
  deliveryLimit: number;
  hardGraceMs: number;
  limits: TaskLimitsView;
  onTaskEvent?: (type: 'failed', held: Held, ex: Execution) => void;
}

export interface Wiring {
  exec: ExecEnv;
  endings: EndingsEnv;
  canvas(queue: string): Canvas;
}

export function wire(
  transport: Transport,
  results: ResultStore | null,
  o: WiringOptions,
  settle: ((d: SettleableDelivery, id: string, meta: string) => Promise<void>) | null,
  hooks: { hardLimit(held: Held): void; stopped(): boolean },
): Wiring {
  const canvases = new Map<string, Canvas>();
  const canvas = (queue: string): Canvas => {
    let c = canvases.get(queue);
    if (!c) {
      const env = { publish: transport.publish.bind(transport), results, now: o.now, worker: o.worker };
      c = new Canvas({ ...env, extended: o.cfg.resultExtended }, queue);
      canvases.set(queue, c);
    }
    return c;
  };
  const exec: ExecEnv = {
    registry: o.registry,
    transport,
    results,
    canvas,
    cfg: o.cfg,
    worker: o.worker,
    logger: o.logger,
    now: o.now,
    coldSignal: o.coldSignal,
    hardGraceMs: o.hardGraceMs,
    limits: o.limits,
    onHardLimit: (h: Held) => hooks.hardLimit(h),
    settle,
  };
  const endings: EndingsEnv = {
    transport,
    results,
    cfg: o.cfg,
    logger: o.logger,
    worker: o.worker,
    now: o.now,
    deliveryLimit: o.deliveryLimit,
    exec,
    ...(o.onTaskEvent ? { onTaskEvent: o.onTaskEvent } : {}),
    stopped: () => hooks.stopped(),
  };
  return { exec, endings, canvas };
}
