// The supervisor's Celery node (celery@host): one pidbox consumer per pool, answering `celery inspect/control`
// for all its children like a prefork worker's main process, and sending worker-* events. Loaded only when
// --backend=celery (the supervisor imports it lazily).
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { WorkerConfig } from '../../../config/types.js';
import type { PoolHandle } from '../../../supervisor/api.js';
import { EventPublisher, SW_IDENT, SW_SYS, SW_VER } from '../events.js';
import { redisTarget } from '../redis-url.js';
import { REVOKED_KEY } from '../transport.js';
import { runCommand, type ChildAnswer, type NodeEnv } from './commands.js';
import {
  BINDING_SEP,
  dbOf,
  envelope,
  fanoutChannel,
  isForNode,
  parseControl,
  PIDBOX_EXCHANGE,
  routeDirect,
} from './wire.js';

export interface ControlOptions {
  /** How long the node waits for the children's answers; Celery's inspect waits 1 s for the whole reply. */
  askTimeoutMs: number;
  heartbeatMs: number;
  /** Aborted when the pool exits before the node is up (a broker that is down must not hold the exit). */
  signal?: AbortSignal;
}

export interface ControlNode {
  close(): Promise<void>;
}

const HEARTBEAT_FREQ_S = 2;

export async function startControlNode(
  config: WorkerConfig,
  pool: PoolHandle,
  logger: Logger,
  opts: Partial<ControlOptions> = {},
): Promise<ControlNode> {
  const o: ControlOptions = { askTimeoutMs: 600, heartbeatMs: HEARTBEAT_FREQ_S * 1000, ...opts };
  const log = logger.child({ component: 'celery-control' });
  const url = config.celery.brokerUrl;
  const db = dbOf(url);
  const nodename = config.hostname;
  const target = redisTarget(url);
  const redisOpts = {
    lazyConnect: false,
    maxRetriesPerRequest: null,
    retryStrategy: (n: number) => Math.min(5000, 50 * 2 ** n),
    ...(target.tls ? { tls: target.tls } : {}),
  };
  const pub = new Redis(target.url, redisOpts);
  const sub = new Redis(target.url, redisOpts);
  opts.signal?.addEventListener(
    'abort',
    () => {
      pub.disconnect();
      sub.disconnect();
    },
    { once: true },
  );
  for (const [c, role] of [
    [pub, 'publish'],
    [sub, 'subscribe'],
  ] as const)
    c.on('error', (e: Error) => log.debug({ role, err: e.message }, 'control connection error'));
  let clock = 0;
  const tick = (): number => ++clock;
  const events = new EventPublisher({
    redis: pub,
    db,
    hostname: nodename,
    enabled: config.celery.sendEvents,
    onError: (e) => log.warn({ err: e.message }, 'celery event not published'),
  });

  // inspect round trips to the children: requestId → collector.
  const pending = new Map<string, (gen: number, data: unknown) => void>();
  pool.onChildMessage((gen, msg) => {
    if (msg.type === 'inspectReply') pending.get(msg.requestId)?.(gen, msg.data);
  });
  const ask = async (what: string, args: Record<string, unknown> = {}): Promise<ChildAnswer[]> => {
    const ready = pool.snapshot().children.filter((c) => c.state === 'ready');
    const requestId = randomUUID();
    const answers: ChildAnswer[] = [];
    const sentTo = ready.filter((c) => pool.send(c.gen, { type: 'inspect', requestId, what, args }));
    if (sentTo.length === 0) return answers;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.askTimeoutMs);
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

  const env: NodeEnv = {
    nodename,
    config: () => pool.childConfig(),
    startedAt: Date.now(),
    now: Date.now,
    clock: () => clock,
    pool: () => pool.snapshot(),
    signal: (sig) => pool.signal(sig),
    ask,
    revoke: async (ids) => void (await pub.sadd(REVOKED_KEY, ...ids)),
    events,
    // Children forked from now on read the new queue list; the rolling restart forks them all (issue 17 makes
    // this in place).
    setQueues: (queues) => {
      pool.setChildConfig((c) => ({ ...c, queues }));
      pool.signal('HUP');
    },
  };

  const reply = async (data: unknown, exchange: string, routingKey: string, ticket: string): Promise<void> => {
    // reply.celery.pidbox is a direct exchange: route through kombu's binding set to the caller's reply queue.
    const queues = routeDirect(await pub.smembers(`_kombu.binding.${exchange}`), routingKey);
    const raw = envelope({ [nodename]: data }, { exchange, routingKey, headers: { ticket, clock: tick() } });
    for (const q of queues) await pub.lpush(q, raw);
  };

  let busy = Promise.resolve();
  const onRaw = (raw: string): void => {
    const req = parseControl(raw);
    if (req instanceof Error) {
      log.warn({ err: req.message }, 'malformed control message ignored');
      return;
    }
    if (!isForNode(req, nodename)) return;
    if (req.expires !== null && Date.now() / 1000 > req.expires) return;
    // One command at a time, in arrival order (a Python worker's pidbox is one consumer too).
    busy = busy.then(async () => {
      try {
        log.info({ method: req.method, destination: req.destination }, 'control command');
        const data = await runCommand(req.method, req.arguments, env);
        if (data !== null && req.replyTo && req.ticket)
          await reply(data, req.replyTo.exchange, req.replyTo.routingKey, req.ticket);
      } catch (e) {
        log.warn({ method: req.method, err: (e as Error).message }, 'control command failed');
      }
    });
  };

  const channel = fanoutChannel(db, PIDBOX_EXCHANGE);
  sub.on('message', (ch: string, raw: string) => {
    if (ch === channel) onRaw(raw);
  });
  await sub.subscribe(channel);
  // Declare our pidbox queue's binding as kombu's queue_bind does, so the broker shows the node like Celery's.
  const binding = `${BINDING_SEP}${BINDING_SEP}${nodename}.celery.pidbox`;
  await pub.sadd(`_kombu.binding.${PIDBOX_EXCHANGE}`, binding).catch(() => undefined);

  const workerFields = (): Record<string, unknown> => {
    const kids = pool.snapshot().children;
    return {
      freq: HEARTBEAT_FREQ_S,
      sw_ident: SW_IDENT,
      sw_ver: SW_VER,
      sw_sys: SW_SYS,
      active: kids.reduce((n, c) => n + (c.active ?? 0), 0),
      processed: kids.reduce((n, c) => n + (c.processed ?? 0), 0),
      loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    };
  };
  await events.send('worker-online', workerFields());
  const hb = setInterval(() => void events.send('worker-heartbeat', workerFields()), o.heartbeatMs);
  log.info({ nodename, channel, events: events.enabled }, 'celery control node ready');

  let closing: Promise<void> | null = null;
  return {
    close(): Promise<void> {
      closing ??= (async () => {
        clearInterval(hb);
        await busy;
        await events.send('worker-offline', workerFields());
        await pub.srem(`_kombu.binding.${PIDBOX_EXCHANGE}`, binding).catch(() => undefined);
        await Promise.all([sub.quit().catch(() => sub.disconnect()), pub.quit().catch(() => pub.disconnect())]);
      })();
      return closing;
    },
  };
}
