// One task execution, Celery's trace.py in small: time limits on the AbortSignal, STARTED/SUCCESS/FAILURE/RETRY
// results, callbacks/chain/chord, and the message's fate (ack, re-publish for retry, or given back on cold stop).
import type { Logger } from 'pino';
import type { CeleryConfig } from '../../config/types.js';
import { isRetryable, isRetryRequest, TimeLimitExceeded } from '../../tasks/errors.js';
import type { Registry } from '../../tasks/registry.js';
import type { TaskDefinition } from '../../tasks/types.js';
import { setLongTimeout } from '../../util/timers.js';
import { celeryBuiltin } from './builtins.js';
import type { Canvas } from './canvas.js';
import { internalTask } from './dag.js';
import type { TaskLimitsView } from './limits.js';
import { retryMessage, type TaskMessage } from './protocol.js';
import { buildMeta, errorInfo, excInfo, replyToOf, type ExcInfo, type ResultStore, type State } from './results.js';
import { CeleryTaskContext } from './task-context.js';
import type { SettleableDelivery, Transport } from './transport.js';

/** A message this child holds until it is acked, re-published or given back (the transport tracks the hold). */
export interface Held {
  delivery: Extract<SettleableDelivery, { kind: 'message' }>;
  tag: string;
  /** The queue it came from. */
  queue: string;
  msg: TaskMessage;
  /** Set once the message is given back (cold stop, drain): a late finish must not ack it any more. */
  released: boolean;
  /** Lost workers this message already ran in (the transport's count): > 0 = a rerun, which runs alone. */
  lost: number;
  /** Marked as waiting in the broker (transport.setWaiting): a lost worker does not charge it. */
  parked: boolean;
}

export type Outcome = 'succeeded' | 'failed' | 'retried' | 'abandoned';

export interface ExecEnv {
  registry: Registry;
  transport: Transport;
  results: ResultStore | null;
  canvas(queue: string): Canvas;
  cfg: CeleryConfig;
  worker: string;
  logger: Logger;
  now(): number;
  coldSignal: AbortSignal;
  /** Extra time a task gets after its soft limit before the child gives up on it (hard limit). */
  hardGraceMs: number;
  /** Time limits set by remote control (`celery control time_limit`) win over the task's own. */
  limits: TaskLimitsView;
  /** The task ignored its hard limit: the child must be replaced. */
  onHardLimit(held: Held): void;
  /** Result + ack in one step for plain successes (when the transport offers it for this result store). */
  settle: ((d: SettleableDelivery, id: string, meta: string) => Promise<void>) | null;
}

export function backoffMs(def: TaskDefinition, retries: number): number {
  const b = def.retryBackoff;
  return Math.max(0, Math.min(b.maxMs, b.initialMs * b.factor ** Math.max(0, retries)));
}

/** A retry's delay: the task's countdown when it gave a usable one (negative = now), else `fallbackMs`. */
export function retryDelayMs(countdownMs: unknown, fallbackMs: number): number {
  if (typeof countdownMs === 'number' && !Number.isNaN(countdownMs)) return Math.max(0, countdownMs);
  return fallbackMs;
}

/** Celery's default max_retries for a task that calls retry() without declaring any. */
const DEFAULT_MAX_RETRIES = 3;

export class Execution {
  #controller: AbortController | null = null;
  #abortReason: Error | null = null;
  readonly started: number;
  /** performance.now() at the start: task events' runtime in microseconds, as Python's float has it. */
  readonly startedHr = performance.now();
  /** How it ended, for task events: the return value or the error. */
  value: unknown = undefined;
  error: unknown = undefined;
  /** When it was retried: the countdown before the next run (for its log line). */
  retryInMs: number | undefined = undefined;
  #timers: (() => void)[] = [];
  /** Set by a remote terminate: how this run ends, whatever the task's code does after. */
  #terminated: Error | null = null;
  /** Ends the run now (a terminate whose grace ran out); set while the task's code runs. */
  #interrupt: ((err: Error) => void) | null = null;
  /**
   * No state of this run is stored: the message carried no task id (nobody could ask for it), or it is a Celery
   * built-in declared ignore_result (chord_unlock: not even RETRY or FAILURE, as Celery's tracer does).
   */
  readonly #storesNothing: boolean;

  constructor(
    readonly held: Held,
    private readonly env: ExecEnv,
  ) {
    this.started = env.now();
    this.#storesNothing = held.msg.anonymous || celeryBuiltin(held.msg.task)?.ignoreResult === true;
  }

  /** Created on first use: a no-op task that never looks at its signal costs no AbortController. */
  get controller(): AbortController {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#abortReason) this.#controller.abort(this.#abortReason);
    }
    return this.#controller;
  }

  /**
   * Remote revoke with terminate (Celery kills the pool process running it): ctx.signal is aborted at once, and the
   * run ends REVOKED without waiting for the task's code after `graceMs` — 0 for SIGKILL, the hard-limit grace for
   * any other signal, so a task that honours its signal ends on its own terms first.
   */
  terminate(signum: number): void {
    if (this.#terminated) return;
    const err = Object.assign(new Error('terminated'), { name: 'TaskRevokedError', retryable: false, signum });
    this.#terminated = err;
    this.abort(err);
    const graceMs = signum === KILL ? 0 : this.env.hardGraceMs;
    const t = setTimeout(() => this.#interrupt?.(err), graceMs);
    this.#timers.push(() => clearTimeout(t));
  }

  abort(reason: Error): void {
    if (!this.#controller) this.#abortReason ??= reason;
    else if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }

  #req() {
    const m = this.held.msg;
    return {
      id: m.id,
      task: m.task,
      args: m.args,
      kwargs: m.kwargs,
      retries: m.retries,
      group: m.group,
      parentId: m.parentId,
      queue: this.held.queue,
    };
  }

  #meta(state: State, result: unknown, traceback: string | null): Record<string, unknown> {
    const { cfg, worker } = this.env;
    return buildMeta(state, result, this.#req(), {
      extended: cfg.resultExtended,
      worker,
      nowMs: this.env.now(),
      traceback,
    });
  }

  async store(state: State, result: unknown, traceback: string | null = null): Promise<void> {
    const { results } = this.env;
    if (!results || this.#storesNothing) return;
    // ignore_result (the message's, as Celery 5.7 reads it): no state at all, unless errors are stored anyway.
    if (this.held.msg.ignoreResult && (state === 'SUCCESS' || !this.env.cfg.storeErrorsEvenIfIgnored)) return;
    await results.store(
      this.held.msg.id,
      this.#meta(state, result, traceback),
      replyToOf(this.held.msg.inbound.properties),
    );
  }

  /** Run to the end and settle the message. Throws only when settling failed (the consumer recovers). */
  async run(): Promise<Outcome> {
    const { msg } = this.held;
    const env = this.env;
    const def = env.registry.task(msg.task);
    const wf = def ? undefined : env.registry.workflow(msg.task);
    let value: unknown;
    try {
      // acks_late off: ack on receipt (at-most-once), as Celery does; a later ack is a harmless no-op.
      if (!env.cfg.acksLate) await env.transport.ack([this.held.delivery]);
      if (wf) {
        await env.canvas(this.held.queue).startWorkflow(wf, msg);
        await env.transport.ack([this.held.delivery]);
        return 'succeeded';
      }
      // A result nobody will read must not be left behind: with ignore_result, STARTED would stay forever
      // (no SUCCESS ever replaces it), so it is not stored (Celery: track_started and not ignore_result).
      if (env.cfg.trackStarted && !msg.ignoreResult)
        await this.store('STARTED', { pid: process.pid, hostname: env.worker });
      value = await this.#invoke(def);
      if (this.#terminated) return await this.#fail(this.#terminated, def);
    } catch (err) {
      return await this.#fail(this.#terminated ?? err, def);
    } finally {
      for (const clear of this.#timers) clear();
    }
    // The task succeeded: a result that cannot be stored or a chain that cannot be sent is not the task's failure
    // (the caller's recovery stores an EncodeError naming why).
    return await this.#succeed(value);
  }

  async #invoke(def: TaskDefinition | undefined): Promise<unknown> {
    const { msg } = this.held;
    if (!def) {
      const internal = internalTask(msg.task);
      if (internal) return internal(msg.args, msg.kwargs);
      const builtin = celeryBuiltin(msg.task);
      if (builtin) {
        const env = this.env;
        return builtin.run({
          msg,
          registry: env.registry,
          results: env.results,
          canvas: env.canvas(this.held.queue),
          queue: this.held.queue,
          ctx: this.#context(),
          chordRetryIntervalS: env.cfg.chordRetryIntervalS ?? 1,
        });
      }
      throw Object.assign(new Error(`Task of kind '${msg.task}' never registered, please make sure it's imported.`), {
        name: 'NotRegistered',
      });
    }
    const { softMs, hardMs } = limitsOf(msg, def.timeoutMs, this.env.limits.timeLimits(msg.task), this.env.hardGraceMs);
    // A cold stop aborts running executions itself (Consumer.stop): no listener per task on the shared signal
    // (64 of them were a MaxListenersExceededWarning in every busy child).
    if (this.env.coldSignal.aborted)
      this.abort(Object.assign(new Error('worker cold shutdown'), { name: 'WorkerLostError' }));
    let limitHit: Promise<never> | null = null;
    if (softMs !== undefined) {
      limitHit = new Promise<never>((_, reject) => {
        this.#timers.push(
          setLongTimeout(() => {
            this.abort(new TimeLimitExceeded(msg.task, softMs));
            // The promise only settles here if the task ignores its signal past the hard limit.
            if (hardMs !== undefined) {
              this.#timers.push(setLongTimeout(() => reject(hardLimit(msg.task, hardMs)), hardMs - softMs));
            }
          }, softMs),
        );
      });
    } else if (hardMs !== undefined) {
      limitHit = new Promise<never>((_, reject) =>
        this.#timers.push(setLongTimeout(() => reject(hardLimit(msg.task, hardMs)), hardMs)),
      );
    }
    const ctx = this.#context();
    const running = new Promise<unknown>((resolve, reject) => {
      this.#interrupt = reject;
      Promise.resolve()
        .then(() => def.run(msg.args, msg.kwargs, ctx))
        .then(resolve, reject);
    });
    return await (limitHit ? Promise.race([running, limitHit]) : running);
  }

  /** The task's context (ctx); its logger and signal are made on first use (task-context.ts). */
  #context(): CeleryTaskContext {
    return new CeleryTaskContext(this.held.msg, this.env.worker, this, this.env.logger);
  }

  async #succeed(value: unknown): Promise<Outcome> {
    const { msg } = this.held;
    this.value = value;
    const settle = this.env.settle;
    if (
      settle &&
      this.env.results &&
      !msg.ignoreResult &&
      !msg.chord &&
      !msg.callbacks?.length &&
      !msg.chain?.length &&
      !this.held.released
    ) {
      await settle(this.held.delivery, msg.id, JSON.stringify(this.#meta('SUCCESS', value, null)));
      return 'succeeded';
    }
    const canvas = this.env.canvas(this.held.queue);
    await canvas.onSuccess(msg, value);
    await this.store('SUCCESS', value);
    if (msg.chord) await canvas.onChordPart(msg, 'SUCCESS', value);
    if (!this.held.released) await this.env.transport.ack([this.held.delivery]);
    return 'succeeded';
  }

  async #fail(err: unknown, def: TaskDefinition | undefined): Promise<Outcome> {
    const { msg } = this.held;
    const env = this.env;
    this.error = err;
    if (this.held.released || (env.coldSignal.aborted && !isHard(err))) {
      // Cold stop: the message was (or is being) given back; another worker runs it again.
      return 'abandoned';
    }
    const hard = isHard(err);
    if (hard && env.cfg.acksLate && !env.cfg.acksOnFailureOrTimeout) {
      // Celery requeues a task killed at its hard limit when acks_on_failure_or_timeout is off; here it is charged
      // like a lost worker, so --delivery-limit ends it instead of a loop.
      this.held.released = true;
      const limitS = ((err as { limitMs?: number }).limitMs ?? 0) / 1000;
      await env.transport.restore(this.held.delivery, { lost: `hard time limit of ${limitS} s` });
      env.onHardLimit(this.held);
      return 'abandoned';
    }
    const builtinRetry = !def && isRetryRequest(err) && celeryBuiltin(msg.task)?.unlimitedRetries === true;
    if (!hard && (builtinRetry || (def && this.#shouldRetry(err, def)))) {
      // A built-in without a countdown (chord_unlock always gives one) waits the chord retry interval, never 0.
      const fallback = def ? backoffMs(def, msg.retries) : (env.cfg.chordRetryIntervalS ?? 1) * 1000;
      const countdown = retryDelayMs(isRetryRequest(err) ? err.countdownMs : undefined, fallback);
      const next = retryMessage(msg, env.now() + countdown, this.held.queue);
      await this.store(
        'RETRY',
        excInfo('Retry', `Retry in ${Math.round(countdown / 1000)}s: ${(err as Error)?.message ?? String(err)}`),
      );
      await env.transport.republish(this.held.delivery, next);
      this.retryInMs = countdown; // the consumer's task line says it (chord_unlock's polls at debug)
      return 'retried';
    }
    const exc: ExcInfo = errorInfo(err);
    const traceback = err instanceof Error && err.stack ? err.stack : null;
    await this.recordFailure(exc, traceback);
    if (env.cfg.acksLate && !env.cfg.acksOnFailureOrTimeout) {
      // Celery rejects it without requeue: our dead-letter list keeps it (AMQP: the queue's dead-letter exchange).
      await env.transport.deadLetter(this.held.delivery, {
        reason: `${exc.exc_type}: ${String(exc.exc_message[0] ?? '')}`,
        taskId: msg.id,
        task: msg.task,
        worker: env.worker,
        at: env.now() / 1000,
      });
    } else await env.transport.ack([this.held.delivery]);
    if (hard) env.onHardLimit(this.held);
    return 'failed';
  }

  /** The task's final failure (stored, errbacks, chord part), without settling its message. */
  async recordFailure(exc: ExcInfo, traceback: string | null = null): Promise<void> {
    const { msg } = this.held;
    // A task terminated by remote revoke ends REVOKED, as in Celery.
    await this.store(exc.exc_type === 'TaskRevokedError' ? 'REVOKED' : 'FAILURE', exc, traceback);
    const canvas = this.env.canvas(this.held.queue);
    await canvas.onFailure(msg, exc, traceback);
    if (msg.chord) await canvas.onChordPart(msg, 'FAILURE', exc);
  }

  #shouldRetry(err: unknown, def: TaskDefinition): boolean {
    const { msg } = this.held;
    if (isRetryRequest(err)) return msg.retries < (def.retries > 0 ? def.retries : DEFAULT_MAX_RETRIES);
    return isRetryable(err) && msg.retries < def.retries;
  }
}

/**
 * The limits of this run, ms: the message's timelimit header wins, then remote control's time_limit for the task
 * name, then the task's own timeout (soft) with the hard limit a grace after it (Celery's request time_limits,
 * then task.soft_time_limit / task.time_limit).
 */
export function limitsOf(
  msg: Pick<TaskMessage, 'softLimitS' | 'hardLimitS'>,
  taskTimeoutMs: number | undefined,
  set: { softS: number | null; hardS: number | null } | null,
  graceMs: number,
): { softMs: number | undefined; hardMs: number | undefined } {
  let softMs: number | undefined = taskTimeoutMs;
  if (msg.softLimitS !== null) softMs = msg.softLimitS * 1000;
  else if (set !== null) softMs = set.softS === null ? undefined : set.softS * 1000;
  const hardS = msg.hardLimitS ?? set?.hardS ?? null;
  const hardMs = hardS !== null ? hardS * 1000 : softMs !== undefined ? softMs + graceMs : undefined;
  return { softMs, hardMs };
}

/** The hard limit: same caller-visible type as the soft one, marked so the child knows to replace itself. */
function hardLimit(task: string, ms: number): Error {
  return Object.assign(new TimeLimitExceeded(task, ms), { hard: true, limitMs: ms });
}
const KILL = 9;
const isHard = (err: unknown): boolean => (err as { hard?: unknown } | null)?.hard === true;
