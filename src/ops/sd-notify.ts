// sd_notify(3) from the supervisor itself, without a native module, so `NotifyAccess=main` holds.
//
// Node cannot create AF_UNIX SOCK_DGRAM sockets, and systemd attributes each datagram to the PID that SENDS it
// (SCM_CREDENTIALS are filled in by the kernel at send time, not at socket creation). So we obtain a connected
// datagram socket FD in this process and write(2) to it with fs.writeSync — the kernel then stamps OUR pid:
//   1. `LISTEN_FDNAMES` names an FD "notify" (systemd >= 253: `OpenFile=/run/systemd/notify:notify`), or
//   2. a tiny python3 helper creates + connects the socket and hands the FD over Node's IPC channel (SCM_RIGHTS).
//      libuv cannot wrap an AF_UNIX datagram socket, so it keeps the received FD open unwrapped on the channel;
//      we find its number in /proc/self/fd by the socket inode the helper reports. The FD lives as long as the
//      channel, so the helper stays alive (idle, ignoring group signals) until this process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';

/** One sd_notify message: `KEY=value` assignments, sent as one datagram. */
export type NotifyFields = Record<string, string | number>;

/** Pure: the datagram text for a set of fields (newline-separated assignments, no trailing newline needed). */
export function formatNotify(fields: NotifyFields): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    const text = String(value);
    // A newline inside a value would inject another assignment: flatten it.
    lines.push(`${key}=${text.replace(/[\r\n]+/g, ' ')}`);
  }
  return lines.join('\n');
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

export interface Notifier {
  /** Where datagrams go: 'fd' (inherited), 'helper' (python3-provided FD) or 'none' (not under systemd). */
  readonly transport: 'fd' | 'helper' | 'none';
  /** Send one message; false when it could not be sent (logged by the caller, never thrown). */
  send(fields: NotifyFields): boolean;
  /** Release the FD and the helper. Idempotent. */
  close(): void;
}

export interface NotifierDeps {
  env: NodeJS.ProcessEnv;
  pid: number;
  /** The helper interpreter (needs socket.send_fds: Python >= 3.9). */
  python: string;
  spawn: typeof spawn;
  /** How long the helper may take to hand over the FD. */
  timeoutMs: number;
}

const NO_NOTIFIER: Notifier = { transport: 'none', send: () => false, close: () => undefined };

// The helper: connect a non-blocking datagram socket to $NOTIFY_SOCKET (path or @abstract), send its FD and
// inode over Node's IPC channel as one JSON line, then idle until our end of stdin closes (we exited).
const HELPER = `
import array, json, os, signal, socket, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(s, signal.SIG_IGN)
target = os.environ['TBW_NOTIFY_TARGET']
chan = socket.socket(fileno=int(os.environ['NODE_CHANNEL_FD']))
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.connect('\\0' + target[1:] if target.startswith('@') else target)
    s.setblocking(False)
    msg = json.dumps({'inode': os.fstat(s.fileno()).st_ino}) + '\\n'
    chan.sendmsg([msg.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [s.fileno()]).tobytes())])
except OSError as e:
    chan.sendall((json.dumps({'error': str(e)}) + '\\n').encode())
sys.stdin.buffer.read()
`;

function findFdByInode(inode: number): number | null {
  const want = `socket:[${inode}]`;
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === want) return Number(name);
    } catch {
      // The FD readdir itself used, or one closed meanwhile.
    }
  }
  return null;
}

function fdNotifier(fd: number, transport: 'fd' | 'helper', onClose: () => void): Notifier {
  let open = true;
  return {
    transport,
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
      if (!open) return;
      open = false;
      onClose();
    },
  };
}

function helperNotifier(target: string, deps: NotifierDeps): Promise<Notifier> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { PATH: deps.env.PATH ?? '/usr/bin:/bin', TBW_NOTIFY_TARGET: target };
    let child: ChildProcess;
    try {
      child = deps.spawn(deps.python, ['-c', HELPER], { stdio: ['pipe', 'ignore', 'inherit', 'ipc'], env });
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    const cleanup = (): void => {
      child.stdin?.end();
      if (child.connected) child.disconnect();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`sd_notify helper gave no socket within ${deps.timeoutMs} ms`));
    }, deps.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sd_notify helper exited with code ${code}`));
    });
    child.once('message', (m: unknown) => {
      clearTimeout(timer);
      const msg = (m ?? {}) as { inode?: unknown; error?: unknown };
      const fd = typeof msg.inode === 'number' ? findFdByInode(msg.inode) : null;
      if (fd === null) {
        cleanup();
        reject(new Error(`sd_notify helper failed: ${String(msg.error ?? 'socket FD not received')}`));
        return;
      }
      child.removeAllListeners('exit');
      // Never keep the supervisor alive for the helper's sake; it exits when our stdin pipe closes.
      child.unref();
      (child.stdin as Socket | null)?.unref();
      (child.channel as { unref?: () => void } | null | undefined)?.unref?.();
      resolve(fdNotifier(fd, 'helper', cleanup));
    });
  });
}

/**
 * Open the notification channel for this process. Resolves to a no-op notifier when not started by systemd
 * (no NOTIFY_SOCKET); rejects when NOTIFY_SOCKET is set but no main-PID channel can be made.
 */
export async function openNotifier(partial: Partial<NotifierDeps> = {}): Promise<Notifier> {
  const deps: NotifierDeps = {
    env: process.env,
    pid: process.pid,
    python: 'python3',
    spawn,
    timeoutMs: 5000,
    ...partial,
  };
  const inherited = inheritedNotifyFd(deps.env, deps.pid);
  if (inherited !== null) return fdNotifier(inherited, 'fd', () => undefined);
  const target = deps.env.NOTIFY_SOCKET;
  if (target === undefined || target === '') return NO_NOTIFIER;
  if (!target.startsWith('/') && !target.startsWith('@')) {
    throw new Error(`NOTIFY_SOCKET ${target} is not a Unix socket path (vsock is not supported)`);
  }
  return helperNotifier(target, deps);
}
