// The reducer's answer to a child's exit: why it went (reason, hint), and what follows — nothing while stopping,
// a restart with backoff, or giving up (boot errors, repeated boot failures, a crash loop). Pure, like state.ts.
import { CHILD_EXIT, childExitHint, EXIT } from '../exit-codes.js';
import { CHILD_UNREACHABLE_MSG } from '../log/connection.js';
import {
  childFields,
  type Cx,
  emit,
  finishIfEmpty,
  findChild,
  giveUp,
  isStopping,
  log,
  scheduleRestart,
} from './pool-ops.js';
import { advanceRolling } from './scaling.js';
import type { ChildRecord, ExitReason, Slot } from './types.js';

/** Why a child probably died, for the log line: an operator's first guess, not a verdict. */
function exitHint(c: ChildRecord, code: number | null, signal: string | null): string | undefined {
  if (c.killReason === 'heartbeat-timeout') return 'no heartbeat in time: the event loop was blocked or the child hung';
  if (c.killReason === 'ready-timeout') return 'not ready in time: broker/server unreachable or slow start';
  if (signal === 'SIGKILL') return 'killed by SIGKILL from outside: perhaps out of memory (OOM killer)?';
  // V8 aborts the process when the heap limit is reached ("JavaScript heap out of memory" on stderr just before).
  if (signal === 'SIGABRT') return 'aborted: most likely the V8 heap limit (--child-max-heap) was reached';
  if (signal !== null) return `terminated by ${signal}`;
  // 3 means "cannot boot" only before ready; from a running child it is some task's process.exit(3).
  if (code === CHILD_EXIT.BOOT_ERROR && c.readyAt !== null)
    return 'exit code 3 while running: did a task call process.exit?';
  return code === CHILD_EXIT.OK ? undefined : childExitHint(code);
}

/** Why a child went, for metrics and events (its record just before the exit is reduced). */
function exitReason(c: ChildRecord, poolStopping: boolean): ExitReason {
  if (c.killReason !== null) return c.killReason;
  if (c.retireReason !== null) return c.retireReason;
  if (c.fatal !== null || c.phase === 'starting') return 'boot-failure';
  if (poolStopping) return 'shutdown';
  return 'crash';
}

/**
 * A child that could not reach its broker/server: its restart is that connection's next attempt, so this is the
 * ONE line of the attempt (log/connection.ts): the reason, its code and the delay before the next one.
 */
function retryUnreachable(cx: Cx, c: ChildRecord, slot: Slot, reason: ExitReason): void {
  const next = scheduleRestart(cx, slot, null, 'retryable-boot', reason);
  const e = c.fatal?.error;
  log(cx, 'warn', CHILD_UNREACHABLE_MSG, {
    ...childFields(c),
    reason: e ? e.message : `exit code ${CHILD_EXIT.RETRYABLE_BOOT}`,
    ...(e?.code !== undefined ? { code: e.code } : {}),
    attempt: next.attempt,
    retryInMs: next.delayMs,
  });
}

export function onExit(cx: Cx, id: number, code: number | null, signal: string | null): void {
  const s = cx.s;
  const c = findChild(s, id);
  if (!c) {
    log(cx, 'warn', 'exit of unknown child ignored', { gen: id, code, signal });
    return;
  }
  s.children = s.children.filter((x) => x !== c);
  const fields = { ...childFields(c), code, signal, phase: c.phase };
  const slot = s.slots.find((sl) => sl.index === c.slot && sl.current === c.id);
  const reason = exitReason(c, isStopping(s));
  const hint = exitHint(c, code, signal);
  const upMs = c.readyAt === null ? null : cx.now - c.readyAt;
  const planned = c.retireReason !== null || c.killReason === 'stop-timeout' || isStopping(s);
  emit(cx, {
    type: 'childExited',
    id: c.id,
    slot: c.slot,
    pid: c.pid,
    code,
    signal,
    reason,
    upMs,
    hint: planned ? null : (hint ?? null),
  });
  if (isStopping(s) || (c.retireReason !== null && !slot)) {
    log(cx, 'info', 'child exited', { ...fields, reason: c.retireReason, killed: c.killReason });
    advanceRolling(cx);
    finishIfEmpty(cx);
    return;
  }
  if (!slot) {
    log(cx, 'warn', 'child exited', { ...fields, reason: 'not in a slot' });
    return;
  }
  // Exit code 3 means "cannot boot" only from a child that never became ready: a task may call process.exit(3).
  // A child that already runs tasks (it said `busy`: a broker may deliver before the ready message is read) booted.
  const booting = c.readyAt === null && c.active === 0;
  if ((booting && code === CHILD_EXIT.BOOT_ERROR) || (c.fatal !== null && !c.fatal.retryable)) {
    log(cx, 'error', 'child cannot boot', { ...fields, err: c.fatal?.error });
    const why = c.fatal ? `${c.fatal.error.name}: ${c.fatal.error.message}` : `exit code ${code}`;
    giveUp(cx, EXIT.BOOT_FAILURE, `child ${c.slot} cannot boot (${why})`);
    return;
  }
  if (booting) {
    if (code === CHILD_EXIT.RETRYABLE_BOOT) {
      // Broker/server not reachable yet: retried with backoff for as long as it takes, never a boot failure.
      retryUnreachable(cx, c, slot, reason);
      return;
    }
    s.bootFailures += 1;
    log(cx, 'error', 'child failed to boot', {
      ...fields,
      hint,
      bootFailures: s.bootFailures,
      maxBootFailures: s.opts.maxBootFailures,
    });
    if (s.bootFailures >= s.opts.maxBootFailures) {
      giveUp(
        cx,
        EXIT.BOOT_FAILURE,
        `${s.bootFailures} consecutive boot failures (last: child ${c.slot}, ${hint ?? `exit code ${code}`})`,
      );
      return;
    }
    scheduleRestart(cx, slot, null, 'boot-failure', reason);
    return;
  }
  onCrash(cx, c, slot, { fields, hint, upMs, reason, code });
}

/**
 * A ready child died. When a task explains it — the child was running tasks (a poison message, a heap or hard time
 * limit, a heartbeat kill of a blocked loop, a kill from outside while busy) or exited HARD_TIME_LIMIT — it is a
 * lost worker: the backend charges the tasks (bounded by --delivery-limit), the crash-loop guard does not count it.
 * Only crashes no task explains count; a child that had served tasks still restarts without a grown backoff.
 */
function onCrash(
  cx: Cx,
  c: ChildRecord,
  slot: Slot,
  e: {
    fields: Record<string, unknown>;
    hint: string | undefined;
    upMs: number | null;
    reason: ExitReason;
    code: number | null;
  },
): void {
  const s = cx.s;
  const lost = e.code === CHILD_EXIT.HARD_TIME_LIMIT || c.active > 0;
  const served = lost || (c.heartbeat?.processed ?? 0) > 0;
  if (lost) {
    log(cx, 'error', 'child exited unexpectedly', {
      ...e.fields,
      hint: e.hint,
      upMs: e.upMs,
      lostWorker: true,
      active: c.active,
    });
  } else {
    log(cx, 'error', 'child exited unexpectedly', { ...e.fields, hint: e.hint, upMs: e.upMs });
    const { max, windowMs } = s.opts.crashLoop;
    s.crashTimes = [...s.crashTimes.filter((t) => t > cx.now - windowMs), cx.now];
    if (max !== null && s.crashTimes.length >= max) {
      giveUp(cx, EXIT.CRASH_LOOP, `${s.crashTimes.length} child crashes within ${windowMs} ms (no task explains them)`);
      return;
    }
  }
  scheduleRestart(cx, slot, e.upMs, c.killReason ?? (lost ? 'lost-worker' : 'crash'), e.reason, served);
}
