// The pool-side half of the Celery backend, run by the supervisor as a PoolExtension: the node's per-task limits
// (rate-limit tokens for every child, time limits for later runs) from the first fork on; lost workers (a child
// that died gives its messages back at once, the ones it was running charged with why it died); and, once the
// pool is ready, the remote-control node (celery@host answering `celery inspect` / `celery control`) with the
// worker-* events. The node's code loads while the children boot (the supervisor waits idle then); its broker
// connection opens once the pool is ready, as Celery's worker starts its remote control after its pool.
import { CHILD_EXIT } from '../../exit-codes.js';
import type { WorkerConfig } from '../../config/types.js';
import { serializeError } from '../../ipc/messages.js';
import type { PoolEventMap, PoolExtension, PoolHandle } from '../../supervisor/api.js';
import { counterReport, NodeCounters, TOPIC_COUNTERS } from './control/counters.js';
import type { ControlNode } from './control/node.js';
import { relayedEvent, TOPIC_EVENT } from './events.js';
import { TOPIC_RATE } from './limits.js';
import { NodeLimits } from './node-limits.js';
import { LostDesk } from './lost-desk.js';
import { LostRuns, TOPIC_LOST_ASK, TOPIC_RUNNING } from './lost-runs.js';
import { dropRecord, makeRecordDir, readRecord, removeRecordDir } from './run-record.js';
import type { Transport } from './transport.js';
import { isAmqpUrl } from './transports/index.js';

/** How long close() waits for restores still under way (the supervisor bounds the whole close at 2 s). */
const CLOSE_WAIT_MS = 1000;
/** Task events children relay before the node is up are kept (at most this many) and sent once it is. */
const EARLY_EVENTS_MAX = 1000;

/**
 * Why a child's running tasks are charged a lost-worker delivery, in the words its WorkerLostError will use; null
 * when they are not: a planned exit (retired, shut down: given back, not lost) or a hard time limit (the child
 * already failed that task and gave the others back itself).
 */
export function lostReason(e: PoolEventMap['childExited']): string | null {
  const unplanned = e.reason === 'crash' || e.reason === 'heartbeat-timeout' || e.reason === 'boot-failure';
  if (!unplanned || e.code === CHILD_EXIT.HARD_TIME_LIMIT) return null;
  const who = `child ${e.pid ?? '?'}`;
  if (e.reason === 'heartbeat-timeout') return `heartbeat timeout: ${who} was killed, its event loop stayed blocked`;
  if (e.signal === 'SIGABRT') return `heap limit: ${who} aborted, most likely at the V8 heap limit (--child-max-heap)`;
  if (e.signal !== null) return `${who} killed by ${e.signal}`;
  return `${who} exited with code ${String(e.code)}`;
}

/** The supervisor's own broker connection, opened on first use and shared by lost workers and remote control. */
function brokerOf(
  config: WorkerConfig,
  pool: () => PoolHandle | null,
): { get(): Promise<Transport>; close(): Promise<void> } {
  let opened: Promise<Transport> | null = null;
  let closed = false;
  return {
    get() {
      // After close (a child exit reported while the pool stops), opening would leave a connection nobody closes.
      if (closed && opened === null) return Promise.reject(new Error('the pool is closing'));
      opened ??= (async () => {
        const { nonConsumerOptions, openTransport } = await import('./transports/index.js');
        const p = pool();
        if (p === null) throw new Error('celery extension not attached');
        // Never waits: commands queue until the broker is reachable, however long that takes.
        const log = p.logger.child({ component: 'celery-control' });
        return openTransport(config.celery.brokerUrl, nonConsumerOptions(config, log, 'control'));
      })();
      return opened;
    },
    async close() {
      closed = true;
      const t = await opened?.catch(() => null);
      await t?.close().catch(() => undefined);
    },
  };
}

/**
 * Load the remote-control node's code and its broker transport now, while the children boot (the supervisor waits
 * idle then). Loaded when the pool was first ready instead, compiling it cost the supervisor ~30 ms of CPU just as
 * the children took their first tasks (a 10k no-op drain on RabbitMQ: its CPU 6-7 -> 3-4 us a task), and the node
 * answered ~60 ms after the pool was ready (now ~20 ms). Nothing connects here, and nothing here can fail the pool:
 * a module that cannot load fails again where it is used, and is reported there.
 */
function preloadNode(config: WorkerConfig): void {
  void import('./control/node.js').catch(() => undefined);
  void import('./transports/index.js').then((m) => m.loadTransport(config.celery.brokerUrl)).catch(() => undefined);
}

type Relayed = NonNullable<ReturnType<typeof relayedEvent>>;

/** Task events children relay: to the node once it is up, kept (at most EARLY_EVENTS_MAX) until then. */
class EventInbox {
  #live: ControlNode | null = null;
  readonly #early: Relayed[] = [];

  take(e: Relayed): void {
    if (this.#live) this.#live.taskEvent(e.type, e.fields, e.timestamp);
    else if (this.#early.length < EARLY_EVENTS_MAX) this.#early.push(e);
  }

  up(n: ControlNode): void {
    this.#live = n;
    for (const e of this.#early.splice(0)) n.taskEvent(e.type, e.fields, e.timestamp);
  }
}

/** What children send the pool half: rate-limit token requests, running ids, their counters, their task events. */
function routeChildMessages(
  p: PoolHandle,
  l: NodeLimits,
  desk: LostDesk,
  counters: NodeCounters,
  inbox: EventInbox,
): void {
  p.onChildMessage((gen, msg) => {
    if (msg.type !== 'extension') return;
    if (msg.topic === TOPIC_RATE) l.request(gen, msg.data);
    else if (msg.topic === TOPIC_RUNNING) desk.report(gen, msg.data);
    else if (msg.topic === TOPIC_LOST_ASK) desk.ask(gen, msg.data);
    else if (msg.topic === TOPIC_COUNTERS) {
      const r = counterReport(msg.data);
      if (r) counters.report(gen, r);
    } else if (msg.topic === TOPIC_EVENT) {
      const e = relayedEvent(msg.data);
      if (e) inbox.take(e);
    }
  });
}

/** The children's run records (run-record.ts): a private directory, made when the pool attaches, AMQP only. */
export function runRecords(config: WorkerConfig) {
  let dir: string | null = null;
  /** The live records as read in this turn of the event loop: a burst of questions reads each file once. */
  let turn: [number, string[] | null][] | null = null;
  return {
    attach(p: PoolHandle): void {
      if (!isAmqpUrl(config.celery.brokerUrl)) return;
      const made = (dir = makeRecordDir());
      if (made === null) p.logger.warn('no directory for the children\u2019s run records: they report over IPC');
      else p.setChildConfig((c) => ({ ...c, celery: { ...c.celery, runsDir: made } }));
    },
    /** The live children's records, by gen (read once per turn: after a broker restart every held message asks). */
    live(p: PoolHandle | null): [number, string[] | null][] {
      const d = dir;
      if (d === null || p === null) return [];
      if (turn === null) {
        turn = p.snapshot().children.flatMap((c) => (c.pid === null ? [] : [[c.gen, readRecord(d, c.pid)]]));
        setImmediate(() => (turn = null));
      }
      return turn;
    },
    /** An exited child's record, then removed; undefined without one. */
    exited(pid: number | null): string[] | null | undefined {
      turn = null; // it is no longer live
      if (dir === null || pid === null) return undefined;
      const ids = readRecord(dir, pid);
      dropRecord(dir, pid);
      return ids;
    },
    close(): void {
      if (dir !== null) removeRecordDir(dir);
      dir = null;
    },
  };
}

export function celeryPoolExtension(config: WorkerConfig): PoolExtension {
  let pool: PoolHandle | null = null;
  let limits: NodeLimits | null = null;
  let node: Promise<ControlNode | null> = Promise.resolve(null);
  const inbox = new EventInbox();
  const counters = new NodeCounters();
  const broker = brokerOf(config, () => pool);
  const pending = new Set<Promise<void>>();
  let closing = false;
  const records = runRecords(config);
  // Which ids ran in a child that died, for brokers that count every return of a message (lost-runs.ts).
  const desk = new LostDesk(new LostRuns(), {
    send: (gen, topic, data) => void pool?.send(gen, { type: 'extension', topic, data }),
    now: () => Date.now(),
    answered: (taskId, reason, copied) =>
      pool?.logger.debug({ taskId, charged: reason !== null, reason, copied }, 'redelivered task: lost worker checked'),
    records: () => records.live(pool),
  });

  /** A child is gone: whatever it still holds goes back now (charged when it died running it). */
  const onExit = (p: PoolHandle, e: PoolEventMap['childExited']): void => {
    const reason = lostReason(e);
    // A clean planned exit gave everything back itself (drain, stop); a child that never became ready never
    // consumed (a broker that is down at boot must not open the supervisor's connection per failed boot); the
    // dead-holder restore covers any leftover either way.
    if (closing || e.pid === null || e.upMs === null || (reason === null && e.code === 0)) return;
    const job = broker
      .get()
      .then(async (t) => {
        const r = await t.workerLost?.({ index: e.slot, pid: e.pid as number }, reason);
        if (r && r.restored > 0)
          p.logger.warn({ child: e.slot, pid: e.pid, ...r, reason }, 'restored messages held by a dead child');
      })
      .catch((err: unknown) =>
        p.logger.warn(
          { child: e.slot, pid: e.pid, err: serializeError(err) },
          'could not restore a dead child\u2019s messages',
        ),
      )
      .finally(() => pending.delete(job));
    pending.add(job);
  };

  return {
    name: 'celery',
    attach(p) {
      pool = p;
      records.attach(p);
      preloadNode(config);
      const l = (limits = new NodeLimits(p));
      routeChildMessages(p, l, desk, counters, inbox);
      // A child forked while the table changed may have missed the push: a ready child hears it once more.
      p.on('childReady', (e) => l.push(e.id));
      p.on('childExited', (e) => {
        counters.exited(e.id);
        desk.exited(e.id, lostReason(e), records.exited(e.pid));
        onExit(p, e);
      });
    },
    start(signal) {
      const [p, l] = [pool, limits];
      if (p === null || l === null) return Promise.resolve();
      node = (async () => {
        try {
          const { startControlNode } = await import('./control/node.js');
          const n = await startControlNode(config, p, l, await broker.get(), counters, { signal });
          inbox.up(n);
          return n;
        } catch (e) {
          // The pool runs on without remote control, loudly.
          if (!signal.aborted) p.logger.error({ err: serializeError(e) }, 'celery remote control unavailable');
          return null;
        }
      })();
      return node.then(() => undefined);
    },
    async close() {
      closing = true; // exits from here on: the next pool's dead-holder restore gives their messages back
      limits?.close();
      desk.close();
      // Restores of the last exits finish first, unless the broker is unreachable: closing the connection then
      // fails them (a sibling or the next pool restores those holds).
      const bounded = (p: Promise<unknown>): Promise<unknown> =>
        Promise.race([p, new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())]);
      await bounded(Promise.all([...pending]));
      // worker-offline waits for a broker that is down (or the node is still starting): bounded, and the
      // connection is closed either way, which fails whatever still waits on it.
      await bounded(node.then((n) => n?.close()).catch(() => undefined));
      await broker.close();
      records.close();
    },
  };
}
