// The supervisor's Celery node (celery@host): one pidbox consumer per pool, answering `celery inspect/control`
// for all its children like a prefork worker's main process, and sending worker-* events. Transport-neutral: its
// channels come from the broker's transport part. Loaded by the pool extension while the children boot, started once
// the pool is ready.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import type { WorkerConfig } from '../../../config/types.js';
import type { PoolHandle } from '../../../supervisor/api.js';
import { EventPublisher, SW_IDENT, SW_SYS, SW_VER } from '../events.js';
import type { NodeLimits } from '../node-limits.js';
import { RecentIds } from '../recent-ids.js';
import type { NodeCounters } from './counters.js';
import type { ControlChannel, InboundMessage, Transport } from '../transport.js';
import { runCommand, type ChildAnswer, type NodeEnv } from './commands.js';
import { isForNode, parseControl } from './wire.js';

export interface ControlOptions {
  /** How long the node waits for the children's answers; Celery's inspect waits 1 s for the whole reply. */
  askTimeoutMs: number;
  heartbeatMs: number;
  /** Aborted when the pool exits before the node is up (a broker that is down must not hold the exit). */
  signal?: AbortSignal;
}

export interface ControlNode {
  /** A task event a child relayed: stamped with the node's pid and clock, published if task events are on. */
  taskEvent(type: string, fields: Record<string, unknown>, timestamp: number): void;
  close(): Promise<void>;
}

const HEARTBEAT_FREQ_S = 2;

/** inspect round trips to the children: ask every ready child, collect what answers within the timeout. */
function asker(pool: PoolHandle, timeoutMs: number): { ask: NodeEnv['ask']; close(): void } {
  const pending = new Map<string, (gen: number, data: unknown) => void>();
  const off = pool.onChildMessage((gen, msg) => {
    if (msg.type === 'inspectReply') pending.get(msg.requestId)?.(gen, msg.data);
  });
  const ask = async (what: string, args: Record<string, unknown> = {}): Promise<ChildAnswer[]> => {
    const ready = pool.snapshot().children.filter((c) => c.state === 'ready');
    const requestId = randomUUID();
    const answers: ChildAnswer[] = [];
    const sentTo = ready.filter((c) => pool.send(c.gen, { type: 'inspect', requestId, what, args }));
    if (sentTo.length === 0) return answers;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      pending.set(requestId, (gen, data) => {
        const c = sentTo.find((x) => x.gen === gen);
        if (!c) return;
        answers.push({ index: c.index, pid: c.pid, data });
        if (answers.length >= sentTo.length) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    pending.delete(requestId);
    return answers;
  };
  return { ask, close: off };
}

/** Control messages in, replies out: one command at a time, in arrival order (a Python worker's pidbox is one too). */
function commandHandler(
  env: NodeEnv & { tick(): number },
  channel: ControlChannel,
  log: Logger,
): { onMessage(m: InboundMessage | Error): void; idle(): Promise<void> } {
  let busy = Promise.resolve();
  const onMessage = (m: InboundMessage | Error): void => {
    const req = m instanceof Error ? m : parseControl(m);
    if (req instanceof Error) {
      log.warn({ err: req.message }, 'malformed control message ignored');
      return;
    }
    if (!isForNode(req, env.nodename)) return;
    if (req.expires !== null && Date.now() / 1000 > req.expires) return;
    busy = busy.then(async () => {
      try {
        log.info({ method: req.method, destination: req.destination }, 'control command');
        const data = await runCommand(req.method, req.arguments, env);
        if (data !== undefined && req.replyTo && req.ticket)
          await channel.reply(req.replyTo, { [env.nodename]: data }, { ticket: req.ticket, clock: env.tick() });
      } catch (e) {
        log.warn({ method: req.method, err: (e as Error).message }, 'control command failed');
      }
    });
  };
  return { onMessage, idle: () => busy };
}

/** The worker-* event fields of the whole pool (a prefork worker's main process reports its children's sums). */
function workerInfo(pool: PoolHandle, counters: NodeCounters): Record<string, unknown> {
  const kids = pool.snapshot().children;
  return {
    freq: HEARTBEAT_FREQ_S,
    sw_ident: SW_IDENT,
    sw_ver: SW_VER,
    sw_sys: SW_SYS,
    active: kids.reduce((n, c) => n + (c.active ?? 0), 0),
    processed: counters.processed(),
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** Tell one child what the node knows it must (revoked ids): a child forked after a revoke learns it too. */
function briefChild(pool: PoolHandle, gen: number, revoked: RecentIds): void {
  const ids = revoked.list(Date.now());
  if (ids.length > 0)
    pool.send(gen, { type: 'inspect', requestId: randomUUID(), what: 'revoke', args: { ids, signum: null } });
}

/** enable_events / disable_events: the node's task group, every child's, and the config of later forks. */
async function setTaskEvents(pool: PoolHandle, events: EventPublisher, ask: NodeEnv['ask'], on: boolean) {
  events.taskEvents = on;
  pool.setChildConfig((c) => ({ ...c, celery: { ...c.celery, sendEvents: on } }));
  await ask(on ? 'enable_events' : 'disable_events');
}

/** add_consumer / cancel_consumer in place on every child; later forks read the new list from their config. */
async function setQueues(pool: PoolHandle, ask: NodeEnv['ask'], log: Logger, queues: string[]): Promise<void> {
  pool.setChildConfig((c) => ({ ...c, queues }));
  const ready = pool.snapshot().children.filter((c) => c.state === 'ready').length;
  const done = (await ask('queues', { queues })).filter((a) => a.data === true).length;
  // A transport that cannot change a live subscription (or a child that did not answer): a rolling restart.
  if (done < ready) {
    log.warn({ queues, inPlace: done, children: ready }, 'queues changed by a rolling restart');
    pool.signal('HUP');
  }
}

/** `transport`: the supervisor's broker connection, owned (and closed) by the pool extension. */
export async function startControlNode(
  config: WorkerConfig,
  pool: PoolHandle,
  limits: NodeLimits,
  transport: Transport,
  counters: NodeCounters,
  opts: Partial<ControlOptions> = {},
): Promise<ControlNode> {
  const o: ControlOptions = { askTimeoutMs: 600, heartbeatMs: HEARTBEAT_FREQ_S * 1000, ...opts };
  const log: Logger = pool.logger.child({ component: 'celery-control' });
  const nodename = config.hostname;
  const channel = transport.control(nodename);
  opts.signal?.addEventListener('abort', () => void channel.close(), { once: true });
  // One logical clock for the node: its events (its children's task events too) and its control replies.
  let clock = 0;
  const tick = (): number => ++clock;
  const events = new EventPublisher({
    channel: transport.events(),
    hostname: nodename,
    taskEvents: config.celery.sendEvents,
    tick,
    onError: (e) => log.warn({ err: e.message }, 'celery event not published'),
  });
  const children = asker(pool, o.askTimeoutMs);
  const revoked = new RecentIds();
  const offReady = pool.on('childReady', (e) => briefChild(pool, e.id, revoked));
  const workerFields = (): Record<string, unknown> => workerInfo(pool, counters);
  const env: NodeEnv & { tick(): number } = {
    nodename,
    transport: transport.name,
    config: () => pool.childConfig(),
    startedAt: Date.now(),
    now: Date.now,
    clock: () => clock,
    tick,
    pool: () => pool.snapshot(),
    signal: (sig) => pool.signal(sig),
    setAutoscale: (max, min) => pool.setAutoscale(max, min),
    ask: children.ask,
    revoke: (ids) => {
      revoked.add(ids, Date.now());
      return channel.revoke(ids);
    },
    revokedIds: () => revoked.list(Date.now()),
    events,
    setTaskEvents: (on) => setTaskEvents(pool, events, children.ask, on),
    // control heartbeat: what Celery's sends (freq=5 and the software info only).
    heartbeat: () => events.send('worker-heartbeat', { freq: 5, sw_ident: SW_IDENT, sw_ver: SW_VER, sw_sys: SW_SYS }),
    counters,
    limits,
    setQueues: (queues) => setQueues(pool, children.ask, log, queues),
  };

  const handler = commandHandler(env, channel, log);
  await channel.listen(handler.onMessage);

  // Worker events always go out (a Python worker's `worker` group); -E and enable_events add the task group.
  await events.send('worker-online', workerFields());
  const hb = setInterval(() => void events.send('worker-heartbeat', workerFields()), o.heartbeatMs);
  log.info({ nodename, transport: transport.name, taskEvents: events.taskEvents }, 'celery control node ready');

  let closing: Promise<void> | null = null;
  return {
    taskEvent(type, fields, timestamp) {
      void events.send(type, fields, timestamp);
    },
    close(): Promise<void> {
      closing ??= (async () => {
        clearInterval(hb);
        offReady();
        await handler.idle();
        await events.send('worker-offline', workerFields());
        children.close();
        await channel.close();
      })();
      return closing;
    },
  };
}
