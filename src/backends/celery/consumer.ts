// The fetch loop of one child. Modes: idle → running (fetching) → draining (no fetching, finishing) → stopped.
// In-flight work is bounded: it fetches only as many messages as it has free slots, ETA messages wait in a
// bounded set, and everything fetched is held in kombu's `unacked` structures until it is settled.
import type { Logger } from 'pino';
import type { CeleryConfig } from '../../config/types.js';
import { emptyHistogram, observe } from '../../ipc/histogram.js';
import type { Registry } from '../../tasks/registry.js';
import { Canvas } from './canvas.js';
import { internalTask } from './dag.js';
import { Execution, type ExecEnv, type Held, type Outcome } from './execute.js';
import { consumeKeys, parseMessage, PRIORITY_SEP, type Rejection } from './protocol.js';
import { buildMeta, excInfo, type ResultStore } from './results.js';
import type { Settler } from './settle.js';
import type { Broker, Fetched } from './transport.js';

export type Mode = 'idle' | 'running' | 'draining' | 'stopped';

export interface ConsumerDeps {
  now(): number;
  isAlive(pid: number): boolean;
  /** Replace this child (hard time limit ignored by a task). */
  exit(code: number): void;
}

export interface ConsumerOptions {
  queues: string[];
  slots: number;
  worker: string;
  cfg: CeleryConfig;
  registry: Registry;
  logger: Logger;
  coldSignal: AbortSignal;
  /** Most ETA/countdown messages held at once; more are put back at the tail of their queue. */
  maxEtaHeld: number;
  /** Empty-poll backoff bounds (the fetch is a non-blocking Lua script). */
  pollMinMs: number;
  pollMaxMs: number;
  hardGraceMs: number;
  maintenanceMs: number;
  /** Celery task events (-E) and remote control observe the task lifecycle here; must not throw. */
  onTaskEvent?: (type: TaskEventType, held: Held, ex?: Execution) => void;
  /** Batched result + ack for plain successes (see settle.ts); null when results live elsewhere. */
  settler?: Settler | null;
}

export type TaskEventType = 'received' | 'started' | 'succeeded' | 'failed' | 'retried' | 'revoked';

/** Exit code of a child that replaces itself because a task ignored its hard time limit (EX_SOFTWARE). */
export const HARD_LIMIT_EXIT = 70;

export class Consumer {
  #mode: Mode = 'idle';
  readonly #keys: string[];
  readonly #running = new Map<string, Execution>();
  readonly #ready: Held[] = [];
  readonly #eta = new Map<string, { held: Held; timer: NodeJS.Timeout }>();
  readonly #canvases = new Map<string, Canvas>();
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #maint: NodeJS.Timeout | null = null;
  #maintBusy = false;
  #fetchErrors = 0;
  /** True from a fetch call until its messages are accepted: their tags are in Redis but not yet known here. */
  #fetching = false;
  processed = 0;
  failed = 0;
  /** Run time of every settled task (received → stored and acked), shipped in heartbeats for /metrics. */
  readonly durations = emptyHistogram();
  lastPollAt: number | null = null;

  constructor(
    private readonly broker: Broker,
    private readonly results: ResultStore | null,
    private readonly o: ConsumerOptions,
    private readonly deps: ConsumerDeps,
  ) {
    this.#keys = consumeKeys(o.queues);
  }

  get mode(): Mode {
    return this.#mode;
  }
  get active(): number {
    return this.#running.size;
  }

  #setMode(next: Mode): void {
    const legal: Record<Mode, Mode[]> = {
      idle: ['running', 'stopped'],
      running: ['draining', 'stopped'],
      draining: ['stopped'],
      stopped: [],
    };
    if (next === this.#mode) return;
    if (!legal[this.#mode].includes(next))
      throw new Error(`celery consumer: illegal transition ${this.#mode} → ${next}`);
    this.o.logger.info({ from: this.#mode, to: next }, 'celery consumer state');
    this.#mode = next;
    this.#poke();
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  async start(): Promise<void> {
    const now = this.deps.now();
    await this.broker.register(now);
    // A previous incarnation of this slot (or any dead child of this node) may have died holding messages.
    const restored = await this.broker.restoreDeadHolders(this.deps.isAlive);
    if (restored > 0) this.o.logger.warn({ restored }, 'restored messages held by a dead child');
    this.#setMode('running');
    this.#loop = this.#fetchLoop();
    this.#maint = setInterval(() => void this.#maintenance(), this.o.maintenanceMs);
  }

  canvas(queue: string): Canvas {
    let c = this.#canvases.get(queue);
    if (!c) {
      const publish = async (key: string, raw: string): Promise<void> => void (await this.broker.redis.lpush(key, raw));
      c = new Canvas(
        {
          publish,
          results: this.results,
          now: this.deps.now,
          worker: this.o.worker,
          extended: this.o.cfg.resultExtended,
        },
        queue,
      );
      this.#canvases.set(queue, c);
    }
    return c;
  }

  async #fetchLoop(): Promise<void> {
    let idle = this.o.pollMinMs;
    while (this.#mode === 'running') {
      const free = this.o.slots - this.#running.size - this.#ready.length;
      // Refill in batches (a quarter of the slots) while work is running: one fetch per finished task would
      // serialise the pool on fetch round trips.
      const batch = Math.max(1, Math.ceil(this.o.slots / 4));
      if (free <= 0 || (free < batch && this.#running.size > 0)) {
        await new Promise<void>((r) => (this.#wake = r));
        continue;
      }
      let got: Fetched[];
      this.#fetching = true;
      try {
        got = await this.broker.fetch(this.#keys, free, this.deps.now());
        this.lastPollAt = this.deps.now();
        this.#fetchErrors = 0;
      } catch (err) {
        this.#fetching = false;
        if (this.#fetchErrors++ === 0) this.o.logger.warn({ err: (err as Error).message }, 'fetch failed, retrying');
        await this.#sleep(Math.min(100 * this.#fetchErrors, 2000));
        continue;
      }
      if (got.length === 0) {
        this.#fetching = false;
        await this.#sleep(idle);
        idle = Math.min(this.o.pollMaxMs, idle * 2);
        continue;
      }
      idle = this.o.pollMinMs;
      for (const f of got) await this.#accept(f);
      this.#fetching = false;
    }
  }

  async #accept(f: Fetched): Promise<void> {
    const queue = f.key.split(PRIORITY_SEP)[0] ?? f.key;
    if (f.flag === 'dead') {
      this.failed++;
      this.o.logger.warn(
        { queue, deadLetter: this.o.cfg.deadLetterKey },
        'unreadable message moved to the dead-letter list',
      );
      return;
    }
    const parsed = parseMessage(f.raw, this.o.cfg.maxMessageBytes);
    if (!parsed.ok) return this.#reject(f, queue, parsed);
    const msg = parsed.msg;
    if (!this.o.registry.has(msg.task) && !internalTask(msg.task)) {
      return this.#reject(f, queue, {
        ok: false,
        type: 'NotRegistered' as Rejection['type'],
        reason: `Task of kind '${msg.task}' never registered, please make sure it's imported.`,
        id: msg.id,
        task: msg.task,
      });
    }
    const held: Held = { tag: f.tag, key: f.key, queue, raw: f.raw, msg, released: false };
    this.o.onTaskEvent?.('received', held);
    const now = this.deps.now();
    if (f.flag === 'revoked' || (msg.expiresMs !== null && msg.expiresMs <= now)) {
      return this.#revoke(held, f.flag === 'revoked' ? 'revoked' : 'expired');
    }
    if (msg.etaMs !== null && msg.etaMs > now) {
      if (this.#eta.size >= this.o.maxEtaHeld) {
        await this.broker.pushAndAck(f.tag, f.key, f.raw, 'L');
        return;
      }
      const timer = setTimeout(
        () => {
          this.#eta.delete(held.tag);
          this.#ready.push(held);
          this.#pump();
        },
        Math.min(msg.etaMs - now, 2 ** 31 - 1),
      );
      this.#eta.set(held.tag, { held, timer });
      return;
    }
    this.#ready.push(held);
    this.#pump();
  }

  /** Unrunnable: FAILURE where the id is known, the raw message to the dead-letter list, acked, keep going. */
  async #reject(
    f: Fetched,
    queue: string,
    r: Rejection | { ok: false; type: string; reason: string; id: string | null; task: string | null },
  ): Promise<void> {
    this.failed++;
    this.o.logger.warn(
      { queue, taskId: r.id, task: r.task, type: r.type, reason: r.reason },
      'message rejected to the dead-letter list',
    );
    if (r.id !== null && this.results) {
      const req = {
        id: r.id,
        task: r.task ?? 'unknown',
        args: [],
        kwargs: {},
        retries: 0,
        group: null,
        parentId: null,
        queue,
      };
      const meta = buildMeta('FAILURE', excInfo(r.type, r.reason), req, {
        extended: this.o.cfg.resultExtended,
        worker: this.o.worker,
        nowMs: this.deps.now(),
      });
      await this.results.store(r.id, meta).catch(() => undefined);
    }
    const entry = JSON.stringify({
      reason: `${r.type}: ${r.reason}`,
      queue,
      task_id: r.id,
      task: r.task,
      message: f.raw,
      worker: this.o.worker,
      at: this.deps.now() / 1000,
    });
    await this.broker.pushAndAck(f.tag, this.o.cfg.deadLetterKey, entry, 'L');
  }

  async #revoke(held: Held, why: 'revoked' | 'expired'): Promise<void> {
    this.o.logger.info({ taskId: held.msg.id, task: held.msg.task, why }, 'task revoked');
    this.o.onTaskEvent?.('revoked', held);
    const ex = new Execution(held, this.#env());
    await ex.store('REVOKED', excInfo('TaskRevokedError', why));
    if (held.msg.chord)
      await this.canvas(held.queue).onChordPart(held.msg, 'REVOKED', excInfo('TaskRevokedError', why));
    await this.broker.ack([held.tag]);
    this.processed++;
  }

  #envCache: ExecEnv | null = null;

  /** One environment object for every execution (it only holds references). */
  #env(): ExecEnv {
    return (this.#envCache ??= {
      registry: this.o.registry,
      broker: this.broker,
      results: this.results,
      canvas: (q: string) => this.canvas(q),
      cfg: this.o.cfg,
      worker: this.o.worker,
      logger: this.o.logger,
      now: this.deps.now,
      coldSignal: this.o.coldSignal,
      hardGraceMs: this.o.hardGraceMs,
      onHardLimit: (h: Held) => void this.#hardLimit(h),
      settler: this.o.settler ?? null,
    });
  }

  #pump(): void {
    while (
      this.#running.size < this.o.slots &&
      this.#ready.length > 0 &&
      (this.#mode === 'running' || this.#mode === 'draining')
    ) {
      const held = this.#ready.shift()!;
      const ex = new Execution(held, this.#env());
      this.#running.set(held.tag, ex);
      this.o.onTaskEvent?.('started', held, ex);
      void ex
        .run()
        .catch((err: unknown): Outcome => {
          this.o.logger.error(
            { taskId: held.msg.id, err: (err as Error)?.message },
            'settling a task failed; the message stays held',
          );
          return 'abandoned';
        })
        .then((outcome) => {
          this.#running.delete(held.tag);
          if (outcome !== 'abandoned') {
            this.processed++;
            observe(this.durations, (this.deps.now() - ex.started) / 1000);
          }
          if (outcome === 'failed') this.failed++;
          if (outcome !== 'abandoned') this.o.onTaskEvent?.(outcome, held, ex);
          this.#pump();
          this.#poke();
        });
    }
  }

  async #hardLimit(held: Held): Promise<void> {
    this.o.logger.error(
      { taskId: held.msg.id, task: held.msg.task },
      'task ignored its hard time limit; replacing this child',
    );
    await this.#giveBack([...this.#running.values()].map((e) => e.held).filter((h) => h !== held));
    this.deps.exit(HARD_LIMIT_EXIT);
  }

  /** Put held messages back at the head of their queues (kombu's restore); they are never acked afterwards. */
  async #giveBack(list: Held[]): Promise<number> {
    let n = 0;
    for (const h of list) {
      if (h.released) continue;
      h.released = true;
      if (await this.broker.restore(h.tag).catch(() => false)) n++;
    }
    return n;
  }

  #unstarted(): Held[] {
    const out = [...this.#ready.splice(0)];
    for (const { held, timer } of this.#eta.values()) {
      clearTimeout(timer);
      out.push(held);
    }
    this.#eta.clear();
    return out;
  }

  async #maintenance(): Promise<void> {
    if (this.#maintBusy || this.#mode === 'stopped') return;
    this.#maintBusy = true;
    try {
      const now = this.deps.now();
      const tags = [...this.#running.keys(), ...this.#eta.keys(), ...this.#ready.map((h) => h.tag)];
      await this.broker.refresh(tags, now);
      // A fetch whose reply was lost with the connection left holds we never saw: give them back.
      if (!this.#fetching && this.#mode === 'running') {
        const knows = (t: string): boolean =>
          this.#running.has(t) || this.#eta.has(t) || this.#ready.some((h) => h.tag === t);
        const orphans = await this.broker.redis.smembers(this.broker.heldKey);
        let back = 0;
        for (const tag of orphans) if (!this.#fetching && !knows(tag) && (await this.broker.restore(tag))) back++;
        if (back > 0) this.o.logger.warn({ restored: back }, 'restored holds orphaned by a lost connection');
      }
      const dead = await this.broker.restoreDeadHolders(this.deps.isAlive);
      if (dead > 0) this.o.logger.warn({ restored: dead }, 'restored messages held by a dead child');
      const visible = await this.broker.restoreVisible(now);
      if (visible > 0) this.o.logger.warn({ restored: visible }, 'restored messages past the visibility timeout');
    } catch (err) {
      this.o.logger.debug({ err: (err as Error).message }, 'maintenance skipped');
    } finally {
      this.#maintBusy = false;
    }
  }

  /** What remote control's inspect active/reserved/scheduled show. */
  snapshot(): { running: { held: Held; started: number }[]; ready: Held[]; eta: Held[] } {
    return {
      running: [...this.#running.values()].map((e) => ({ held: e.held, started: e.started })),
      ready: [...this.#ready],
      eta: [...this.#eta.values()].map((e) => e.held),
    };
  }

  /** Remote revoke with terminate: abort running tasks by id (ctx.signal); they end REVOKED. Returns ids found. */
  terminate(ids: string[]): string[] {
    const hit: string[] = [];
    for (const ex of this.#running.values()) {
      if (!ids.includes(ex.held.msg.id)) continue;
      ex.abort(Object.assign(new Error('terminated'), { name: 'TaskRevokedError', retryable: false }));
      hit.push(ex.held.msg.id);
    }
    return hit;
  }

  /** Warm: stop fetching, give unstarted messages back, wait for running ones until the deadline. */
  async drain(deadline: number): Promise<void> {
    if (this.#mode === 'running') this.#setMode('draining');
    await this.#loop;
    const back = await this.#giveBack(this.#unstarted());
    if (back > 0) this.o.logger.info({ restored: back }, 'gave unstarted messages back');
    while (this.#running.size > 0 && this.deps.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, Math.min(100, deadline - this.deps.now())));
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  /** Cold: abort running tasks and give every held message back. */
  async stop(): Promise<void> {
    if (this.#mode === 'stopped') return;
    this.#setMode('stopped');
    if (this.#maint) clearInterval(this.#maint);
    await this.#loop;
    const running = [...this.#running.values()];
    for (const ex of running) ex.abort(Object.assign(new Error('worker cold shutdown'), { name: 'WorkerLostError' }));
    const back = await this.#giveBack([...this.#unstarted(), ...running.map((e) => e.held)]);
    if (back > 0) this.o.logger.info({ restored: back }, 'gave held messages back on cold stop');
    await this.broker.unregister().catch(() => undefined);
  }
}
