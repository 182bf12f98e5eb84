// sd_notify(3) for the supervisor without a native module and without Python at run time.
//
// Node cannot create AF_UNIX SOCK_DGRAM sockets, and systemd credits each datagram to the PID that SENDS it. So:
//   1. `LISTEN_FDNAMES` names an FD "notify" (systemd >= 253: `OpenFile=/run/systemd/notify:notify`): a connected
//      datagram socket we write(2) to ourselves, so the kernel stamps OUR pid (works with NotifyAccess=main), or
//   2. systemd's own `systemd-notify`, run by the supervisor for each message (the unit says NotifyAccess=all).
//      systemd-notify waits (BARRIER=1, systemd >= 246) until systemd has processed the message, so the sender is
//      still alive when systemd attributes it to the unit's cgroup: no "sender exited early" race. Messages go
//      one at a time, in order; status-only updates queued behind a running one are merged (the newest wins).
// Why not a native module (node-unix-socket, unix-dgram, sd-notify): a compiled addon in the long-lived
// supervisor, a build toolchain or prebuilt binary per platform, for a few datagrams a minute. See docs/operations.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';
import { findExecutable } from './which.js';

/** One sd_notify message: `KEY=value` assignments, sent as one datagram. */
export type NotifyFields = Record<string, string | number>;

/** Pure: the assignments of a message, one per element (newlines inside a value flattened). */
export function notifyAssignments(fields: NotifyFields): string[] {
  // A newline inside a value would inject another assignment: flatten it.
  return Object.entries(fields).map(([key, value]) => `${key}=${String(value).replace(/[\r\n]+/g, ' ')}`);
}

/** Pure: the datagram text for a set of fields (newline-separated assignments, no trailing newline needed). */
export function formatNotify(fields: NotifyFields): string {
  return notifyAssignments(fields).join('\n');
}

/**
 * Pure: how often to send WATCHDOG=1 (half the configured timeout, as sd_watchdog_enabled(3) advises), or null
 * when the watchdog is off or meant for another process (WATCHDOG_PID).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC ?? '');
  if (!Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

/** Pure: the FD named "notify" among systemd-passed FDs (LISTEN_FDS start at 3), for this pid only. */
export function inheritedNotifyFd(env: NodeJS.ProcessEnv, pid: number): number | null {
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== pid) return null;
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  const count = Number(env.LISTEN_FDS ?? '0');
  const at = names.indexOf('notify');
  if (at < 0 || at >= count) return null;
  return 3 + at;
}

/** Keys that change the unit's state: never merged with another message, so their order is kept. */
const LIFECYCLE_KEYS = new Set(['READY', 'RELOADING', 'STOPPING', 'MAINPID', 'ERRNO', 'FDSTORE']);

function isLifecycle(fields: NotifyFields): boolean {
  return Object.keys(fields).some((k) => LIFECYCLE_KEYS.has(k));
}

/**
 * Pure: append a message to the queue of messages not yet handed to systemd-notify. A status-only message
 * (STATUS, WATCHDOG, EXTEND_TIMEOUT_USEC) merges into a status-only tail, newest values winning; a lifecycle
 * message (READY, RELOADING, STOPPING) is never merged, so systemd sees the lifecycle in order.
 */
export function enqueueNotify(queue: readonly NotifyFields[], fields: NotifyFields): NotifyFields[] {
  const tail = queue.at(-1);
  if (tail !== undefined && !isLifecycle(tail) && !isLifecycle(fields)) {
    return [...queue.slice(0, -1), { ...tail, ...fields }];
  }
  return [...queue, { ...fields }];
}

export interface Notifier {
  /** Where messages go: 'fd' (an inherited socket), 'systemd-notify' (the helper program) or 'none'. */
  readonly transport: 'fd' | 'systemd-notify' | 'none';
  /** Send (or queue) one message; false when it cannot be sent at all. Never throws. */
  send(fields: NotifyFields): boolean;
  /** Stop sending. Idempotent. */
  close(): void;
}

export interface NotifierDeps {
  env: NodeJS.ProcessEnv;
  pid: number;
  spawn: typeof spawn;
  /** Directories searched for systemd-notify after PATH (a unit's PATH may be minimal). */
  extraDirs: string[];
  /** A queued message that systemd-notify failed to deliver (exit status and its stderr). */
  onError: (fields: NotifyFields, error: string) => void;
}

const NO_NOTIFIER: Notifier = { transport: 'none', send: () => false, close: () => undefined };

function fdNotifier(fd: number): Notifier {
  let open = true;
  return {
    transport: 'fd',
    send(fields) {
      if (!open) return false;
      try {
        writeSync(fd, formatNotify(fields));
        return true;
      } catch {
        // EAGAIN (systemd's queue full) or ECONNREFUSED (manager gone): a dropped notification is not fatal.
        return false;
      }
    },
    close() {
      open = false;
    },
  };
}

function commandNotifier(program: string, socket: string, deps: NotifierDeps): Notifier {
  let queue: NotifyFields[] = [];
  let running: ChildProcess | null = null;
  let open = true;
  // Only what systemd-notify reads: never the supervisor's settings or secrets.
  const env = { PATH: deps.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socket };
  const next = (): void => {
    const fields = queue.shift();
    if (fields === undefined || !open) return;
    let stderr = '';
    let finished = false;
    // 'error' and 'close' may both fire for one spawn: report it once, then start the next message.
    const done = (error: string | null): void => {
      if (finished) return;
      finished = true;
      running = null;
      if (error !== null) deps.onError(fields, error);
      next();
    };
    try {
      running = deps.spawn(program, notifyAssignments(fields), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      done(e instanceof Error ? e.message : String(e));
      return;
    }
    running.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
    running.once('error', (e) => done(e.message));
    running.once('close', (code, signal) => {
      done(code === 0 ? null : `${program} exited with ${code ?? signal}: ${stderr.trim()}`);
    });
  };
  return {
    transport: 'systemd-notify',
    send(fields) {
      if (!open) return false;
      queue = enqueueNotify(queue, fields);
      if (running === null) next();
      return true;
    },
    close() {
      // A message already handed over finishes on its own (systemd-notify exits after systemd read it).
      open = false;
      queue = [];
    },
  };
}

/**
 * Open the notification channel for this process: a no-op notifier when not started by systemd (no
 * NOTIFY_SOCKET); throws when NOTIFY_SOCKET is set but neither an inherited FD nor systemd-notify is there.
 */
export function openNotifier(partial: Partial<NotifierDeps> = {}): Notifier {
  const deps: NotifierDeps = {
    env: process.env,
    pid: process.pid,
    spawn,
    extraDirs: ['/usr/bin', '/bin'],
    onError: () => undefined,
    ...partial,
  };
  const inherited = inheritedNotifyFd(deps.env, deps.pid);
  if (inherited !== null) return fdNotifier(inherited);
  const target = deps.env.NOTIFY_SOCKET;
  if (target === undefined || target === '') return NO_NOTIFIER;
  const program = findExecutable('systemd-notify', deps.env.PATH, deps.extraDirs);
  if (program === null) throw new Error('systemd-notify not found on PATH, /usr/bin or /bin');
  return commandNotifier(program, target, deps);
}
