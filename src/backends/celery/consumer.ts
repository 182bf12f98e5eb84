// The consumer of one child, transport-neutral (its states: consumer-mode.ts). In-flight work is bounded by the
// transport's prefetch (the child's slots); an ETA message held here raises the prefetch by one until it is due
// (Celery's QoS increment; eta.ts), a rate-limited one waits for a token from the node in place. Everything received
// is held by the transport until settled exactly once. Lost workers (docs/reliability.md): a message running in a
// child that died comes back with a count; past --delivery-limit it fails with WorkerLostError, below it it runs
// ALONE (nothing else starts beside it, fetching pauses), so a second death is charged to it only.
import { admit, type AdmissionRules } from './admission.js';
import { moveMode, type Mode } from './consumer-mode.js';
import { emptyHistogram, observe } from '../../ipc/histogram.js';
import { celeryBuiltin } from './builtins.js';
import type { Canvas } from './canvas.js';
import { internalTask } from './dag.js';
import { EtaHold, OVER_CAP_BATCH } from './eta.js';
import { Execution, type Held, type Outcome } from './execute.js';
import { endRevoked, lostTooOften, recoverSettle, rejectUnrunnable, type Unrunnable } from './endings.js';
import { Holdings } from './holdings.js';
import { Parking } from './parking.js';
import { RecentIds } from './recent-ids.js';
import type { ResultStore } from './results.js';
import type { Delivery, SettleableDelivery, Subscription, Transport } from './transport.js';
import { wire, type Wiring, type WiringOptions } from './wiring.js';

/** What the consumer needs beyond what it wires into every execution (wiring.ts). */
export interface ConsumerOptions extends WiringOptions {
  queues: string[];
  slots: number;
  /** Most ETA/countdown messages held at once; more are put back at the end of their queue. */
  maxEtaHeld: number;
  /** BackendContext.busy: tell the supervisor tasks run, before their code does. */
  busy(active: number): void;
  /**
   * Where the broker counts every return of a message: this task starts (true; its code waits for the returned
   * promise, the report being written) or ended.
   */
  onRun?: (held: Held, running: boolean) => Promise<void> | undefined;
  /** A task ignored its hard time limit: the child must be replaced (after the others went back). */
  onHardLimit(held: Held): void;
  /** Celery task events (-E) and remote control observe the task lifecycle here; must not throw. */
  onTaskEvent?: (type: TaskEventType, held: Held, ex?: Execution) => void;
}

export type TaskEventType = 'received' | 'started' | 'succeeded' | 'failed' | 'retried' | 'revoked';

export class Consumer {
  #mode: Mode = 'idle';
  #sub: Subscription | null = null;
  readonly #held: Holdings;
  readonly #rules: AdmissionRules;
  readonly #eta: EtaHold;
  /** Reruns after a lost worker held here (waiting or running): while there is one, fetching pauses. */
  readonly #suspects = new Set<Held>();
  /** The rerun running alone now, if any. */
  #alone: Held | null = null;
  /** Which held messages wait rather than run, as the broker knows it. */
  readonly #parking: Parking;
  readonly #wiring: Wiring;
  #idle: (() => void) | null = null;
  processed = 0;
  failed = 0;
  /** Messages that carried no task id (hybrid or protocol 1 bodies): run, nothing stored. */
  withoutId = 0;
  /** Run time of every settled task (received → stored and acked), shipped in heartbeats for /metrics. */
  readonly durations = emptyHistogram();
  /** Revoked ids the node told this child of (Celery's LimitedSet: 50 000 ids for 3 h). */
  readonly revoked = new RecentIds();
  #queues: readonly string[];

  constructor(
    private readonly transport: Transport,
    private readonly results: ResultStore | null,
    private readonly o: ConsumerOptions,
    /** Result + ack in one step for plain successes, when the transport offers it for this store. */
    private readonly settle: ((d: SettleableDelivery, id: string, meta: string) => Promise<void>) | null,
  ) {
    this.#parking = new Parking(transport, o.logger);
    this.#wiring = wire(transport, results, o, settle, {
      hardLimit: (h) => void this.#hardLimit(h),
      stopped: () => this.#mode === 'stopped',
    });
    this.#queues = o.queues;
    this.#eta = new EtaHold({
      max: o.maxEtaHeld,
      due: (held) => this.#due(held),
      requeue: (held) => transport.requeue(held.delivery),
      park: (held) => this.#parking.park(held),
      changed: () => this.#syncPrefetch(),
    });
    this.#held = new Holdings(this.#eta);
    this.#rules = {
      maxMessageBytes: o.cfg.maxMessageBytes,
      deliveryLimit: o.deliveryLimit,
      runnable: (task) => o.registry.has(task) || this.#internal(task) || celeryBuiltin(task) !== undefined,
      revoked: (id, now) => this.revoked.has(id, now),
    };
  }

  get mode(): Mode {
    return this.#mode;
  }
  get active(): number {
    return this.#held.running.size;
  }
  get lastPollAt(): number | null {
    return this.#sub?.lastPollAt ?? null;
  }

  #setMode(next: Mode): void {
    if (moveMode(this.#mode, next) === this.#mode) return;
    this.o.logger.info({ from: this.#mode, to: next }, 'celery consumer state');
    this.#mode = next;
  }

  async start(): Promise<void> {
    this.#setMode('running');
    this.#sub = await this.transport.consume({
      queues: this.#queues,
      // Celery's worker_prefetch_multiplier: slots × multiplier unsettled messages at most (ETAs raise it).
      prefetch: this.#basePrefetch,
      onDelivery: (d) => this.#accept(d),
      onLost: (tags) => this.#lost(tags),
    });
  }

  canvas(queue: string): Canvas {
    return this.#wiring.canvas(queue);
  }

  async #accept(d: Delivery): Promise<void> {
    const v = admit(d, this.#rules, this.o.now());
    switch (v.kind) {
      case 'dead-lettered':
        this.failed++;
        this.o.logger.warn(
          { queue: v.delivery.queue, deadLetter: this.o.cfg.deadLetterKey, reason: v.delivery.reason },
          'unreadable message moved to the dead-letter list',
        );
        return;
      case 'reject':
        return this.#reject(v.delivery, v.why);
    }
    const held = v.held;
    if (held.msg.anonymous) {
      this.withoutId++;
      this.o.logger.debug(
        { queue: held.queue, task: held.msg.task, count: this.withoutId },
        'message without a task id: runs, stores no result',
      );
    }
    this.o.onTaskEvent?.('received', held);
    switch (v.kind) {
      case 'revoke':
        return this.#revoke(held, v.why);
      case 'lost-too-often':
        this.failed++;
        this.processed++;
        return lostTooOften(held, this.#wiring.endings, v.reason);
      case 'eta':
        return this.#eta.hold(held, v.delayMs);
      case 'due':
        return this.#due(held);
    }
  }

  /** Celery's worker_prefetch_multiplier: slots × multiplier unsettled messages at most. */
  get #basePrefetch(): number {
    return this.o.slots * Math.max(1, this.o.cfg.prefetchMultiplier);
  }

  /** One prefetch rule: the base plus what waits for its ETA; nothing new while a rerun waits or over the ETA cap. */
  #syncPrefetch(): void {
    const paused = this.#suspects.size > 0 || this.#eta.paused;
    const past = this.#eta.full ? OVER_CAP_BATCH : 0;
    this.#sub?.setPrefetch(paused ? 1 : this.#basePrefetch + this.#eta.size + past);
    this.#sub?.pause?.(paused);
  }

  /** Ready to run: now, or once the node grants a token of the task's rate limit. */
  #due(held: Held): void {
    // Revoked while it waited for its ETA in a child that did not hold it then (or since): never runs.
    if (this.revoked.has(held.msg.id, this.o.now())) return void this.#revokeLogged(held);
    this.#eta.flowing();
    if (held.lost > 0 && !this.#suspects.has(held)) {
      this.#suspects.add(held);
      this.#syncPrefetch();
    }
    const token = this.o.limits.token(held.msg.task);
    if (token === null) {
      this.#held.ready.push(held);
      this.#pump();
      return;
    }
    this.#held.waiting.add(held);
    this.#parking.park(held);
    void token.then((granted) => {
      if (!this.#held.waiting.delete(held) || !granted || held.released) return;
      this.#held.ready.push(held);
      this.#pump();
    });
  }

  /** Unrunnable: FAILURE where the id is known, the message to the dead-letter place, settled, keep going. */
  async #reject(d: SettleableDelivery, r: Unrunnable): Promise<void> {
    this.failed++;
    await rejectUnrunnable(d, r, this.#wiring.endings);
  }

  async #revoke(held: Held, why: 'revoked' | 'expired'): Promise<void> {
    this.o.onTaskEvent?.('revoked', held); // its log line: the task lines (task-lines.ts)
    await endRevoked(held, why, this.#wiring.endings);
    this.processed++;
  }

  #revokeLogged(held: Held): void {
    this.#revoke(held, 'revoked').catch((err: unknown) =>
      this.o.logger.warn({ taskId: held.msg.id, err: (err as Error).message }, 'revoked message not settled'),
    );
  }

  #hasWorkflows: boolean | null = null;

  /**
   * Our internal canvas tasks (tbw.collect, tbw.dag_*) run only on a worker that defines workflows, the only thing
   * that sends them; elsewhere they are unknown tasks like any other.
   */
  #internal(task: string): boolean {
    this.#hasWorkflows ??= this.o.registry.workflows().length > 0;
    return this.#hasWorkflows && internalTask(task) !== undefined;
  }

  #pump(): void {
    while (
      this.#held.running.size < this.o.slots &&
      this.#held.ready.length > 0 &&
      this.#alone === null &&
      (this.#mode === 'running' || this.#mode === 'draining')
    ) {
      const next = this.#held.ready[0]!;
      // A rerun after a lost worker starts only in an otherwise idle child, and nothing starts beside it.
      if (next.lost > 0 && this.#held.running.size > 0) break;
      this.#held.ready.shift();
      if (next.lost > 0) {
        this.#alone = next;
        // Set aside before it starts (the launch waits for that): a death once it runs is charged to it only, and
        // one before to nobody. Where the broker charges whatever the child holds, what is still arriving is set
        // aside too before it starts.
        this.#setAside(0);
        if (!this.transport.setWaiting && this.#sub?.settled) this.#parking.track(this.#sub.settled());
      }
      this.#launch(next);
    }
    // Whatever waits behind a rerun is not running: a death while the rerun runs must not be charged to it.
    if (this.#alone !== null) this.#setAside(0);
    else if ((this.#held.ready[0]?.lost ?? 0) > 0) this.#setAside(1);
  }

  /**
   * The ready messages from `from` on wait behind a rerun. Redis marks them all waiting (parking.ts). A broker that
   * counts every redelivery itself (AMQP) would charge them if the rerun kills this child: they go back now,
   * uncharged (the transport's restore), and the rerun starts once they are back.
   */
  #setAside(from: number): void {
    if (this.transport.setWaiting) {
      // Marked, not handed back: the rerun at the head waits too (a death before it starts is not charged to it).
      for (const h of this.#held.ready) this.#parking.park(h);
      return;
    }
    const back = this.#held.ready.splice(from);
    if (back.length > 0) this.#parking.track(this.#giveBack(back));
  }

  #launch(held: Held): void {
    const ex = new Execution(held, this.#wiring.exec);
    this.#held.running.set(held.tag, ex);
    this.o.busy(this.#held.running.size);
    this.o.onTaskEvent?.('started', held, ex);
    // Rare (ETA, rate limits, reruns): the common path starts the task in this turn (after a microtask where the
    // start is reported), with no round trip.
    const parked = this.#parking.mustWait(held) ? this.#parking.ready(held) : undefined;
    const gate = parked ? parked.then(() => this.#reportStart(held)) : this.#reportStart(held);
    const run = gate ? gate.then((): Promise<Outcome> | Outcome => (held.released ? 'abandoned' : ex.run())) : ex.run();
    void run
      .catch((err: unknown): Promise<Outcome> => recoverSettle(held, ex, err, this.#wiring.endings))
      .then((outcome) => this.#finished(held, ex, outcome));
  }

  // Before the task's code runs (if it kills this child, the pool knows a task did, and which), after any wait: a
  // death while a rerun waits for what was set aside behind it is not its doing (no step towards --delivery-limit).
  #reportStart(held: Held): Promise<void> | undefined {
    return held.msg.anonymous ? undefined : this.o.onRun?.(held, true);
  }

  #finished(held: Held, ex: Execution, outcome: Outcome): void {
    this.#held.running.delete(held.tag);
    if (!held.msg.anonymous) void this.o.onRun?.(held, false);
    if (this.#alone === held) this.#alone = null;
    if (this.#suspects.delete(held)) this.#syncPrefetch();
    if (outcome !== 'abandoned') {
      this.processed++;
      observe(this.durations, (this.o.now() - ex.started) / 1000);
    }
    if (outcome === 'failed') this.failed++;
    if (outcome !== 'abandoned') this.o.onTaskEvent?.(outcome, held, ex);
    this.#pump();
    if (this.#held.running.size === 0) this.#idle?.();
  }

  async #hardLimit(held: Held): Promise<void> {
    await this.#giveBack([...this.#held.running.values()].map((e) => e.held).filter((h) => h !== held));
    this.o.onHardLimit(held);
  }

  /** Put held messages back at the head of their queues (kombu's restore); they are never acked afterwards. */
  async #giveBack(list: Held[]): Promise<number> {
    let n = 0;
    for (const h of list) {
      if (h.released) continue;
      h.released = true;
      this.#suspects.delete(h);
      if (await this.transport.restore(h.delivery).catch(() => false)) n++;
    }
    return n;
  }

  /** The transport lost these deliveries (their channel closed; the broker redelivers them): drop unstarted ones. */
  #lost(tags: readonly string[]): void {
    const gone = new Set(tags);
    const eta = this.#held.drop(gone);
    // A rerun that had not started yet will not run here: nothing waits for it any more.
    let suspects = 0;
    for (const h of [...this.#suspects])
      if (gone.has(h.tag) && !this.#held.isRunning(h) && this.#suspects.delete(h)) suspects++;
    if (eta > 0 || suspects > 0) this.#syncPrefetch();
  }

  /** What remote control's inspect active/reserved/scheduled show. */
  snapshot(): ReturnType<Holdings['snapshot']> {
    return this.#held.snapshot();
  }

  /**
   * Remote revoke: remember the ids; held messages with them (ETA, prefetched, waiting for a rate-limit token) end
   * REVOKED now, acked, never run; with a signal, running ones are terminated (Execution.terminate).
   */
  revoke(ids: readonly string[], signum: number | null): { terminated: string[]; revoked: string[] } {
    this.revoked.add(ids, this.o.now());
    const want = new Set(ids);
    const hit = (h: Held): boolean => want.has(h.msg.id);
    const held = this.#held.take(hit);
    for (const h of held) {
      this.#suspects.delete(h);
      this.#revokeLogged(h);
    }
    if (held.length > 0) this.#syncPrefetch();
    const running = signum === null ? [] : this.#held.runningWhere(hit);
    if (signum !== null) for (const ex of running) ex.terminate(signum);
    return { terminated: running.map((ex) => ex.held.msg.id), revoked: held.map((h) => h.msg.id) };
  }

  /** add_consumer / cancel_consumer in place; false when the transport cannot change a live subscription. */
  async setQueues(queues: readonly string[]): Promise<boolean> {
    if (!this.#sub?.setQueues) return false;
    await this.#sub.setQueues(queues);
    this.#queues = queues;
    return true;
  }

  get queues(): readonly string[] {
    return this.#queues;
  }

  /** Warm: stop receiving, give unstarted messages back, wait for running ones until the deadline. */
  async drain(deadline: number): Promise<void> {
    if (this.#mode === 'running') this.#setMode('draining');
    await this.#sub?.cancel();
    const back = await this.#giveBack(this.#held.takeUnstarted());
    if (back > 0) this.o.logger.info({ restored: back }, 'gave unstarted messages back');
    while (this.#held.running.size > 0 && this.o.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, Math.min(100, deadline - this.o.now())));
        this.#idle = () => {
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
    await this.#sub?.cancel();
    const running = [...this.#held.running.values()];
    for (const ex of running) ex.abort(Object.assign(new Error('worker cold shutdown'), { name: 'WorkerLostError' }));
    const back = await this.#giveBack([...this.#held.takeUnstarted(), ...running.map((e) => e.held)]);
    if (back > 0) this.o.logger.info({ restored: back }, 'gave held messages back on cold stop');
  }
}
