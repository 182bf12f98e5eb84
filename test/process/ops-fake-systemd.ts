// Test helper (not a test): a real AF_UNIX datagram socket played by Python, standing in for systemd's notify
// socket. Every datagram comes back with the sender's pid as the kernel stamped it (SO_PASSCRED) and that
// process's parent (read while the sender still waits). BARRIER=1 datagrams are answered the way systemd does
// (by closing the file descriptor they carry) and are not reported.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Test } from 'tap';

export const PYTHON = process.env.TBW_TEST_PYTHON ?? 'python3';

const FAKE_SYSTEMD = `
import array, json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
p = sys.argv[1]
s.bind('\\0' + p[1:] if p.startswith('@') else p)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({'bound': True}), flush=True)
def ppid(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
while True:
    msg, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(16 * 4))
    pid, fds = None, []
    for lvl, typ, data in anc:
        if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', data[:12])[0]
        elif lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.extend(array.array('i', data[: len(data) - len(data) % 4]))
    parent = ppid(pid) if pid else None
    for fd in fds:
        os.close(fd)
    if msg.decode() != 'BARRIER=1':
        print(json.dumps({'pid': pid, 'ppid': parent, 'text': msg.decode()}), flush=True)
`;

export interface Datagram {
  pid: number;
  /** The sender's parent at receipt (null when it was already gone). */
  ppid: number | null;
  text: string;
}

/**
 * Was this datagram sent for `pid` by its systemd-notify? systemd-notify stamps its PARENT's pid when it may (as
 * root: CAP_SYS_ADMIN allows naming another pid in SCM_CREDENTIALS), else its own pid, whose parent is `pid`.
 */
export function sentFor(d: Datagram, pid: number): boolean {
  return d.pid === pid || d.ppid === pid;
}

export interface FakeSystemd {
  /** Every datagram received so far. */
  received: Datagram[];
  /** Wait (10 s at most) for a datagram matching `pred`, looking at earlier ones first. */
  waitFor: (pred: (d: Datagram) => boolean, ms?: number) => Promise<Datagram>;
  /** The next datagram not yet returned by next(). */
  next: () => Promise<Datagram>;
}

export async function fakeSystemd(t: Test, address: string): Promise<FakeSystemd> {
  const proc = spawn(PYTHON, ['-c', FAKE_SYSTEMD, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    proc.kill('SIGKILL');
  });
  const received: Datagram[] = [];
  const waiters = new Set<() => void>();
  let bound!: () => void;
  const isBound = new Promise<void>((r) => (bound = r));
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const d = JSON.parse(line) as Datagram & { bound?: boolean };
    if (d.bound === true) bound();
    else received.push(d);
    for (const w of waiters) w();
  });
  const exited = new Promise<never>((_, rej) => proc.once('exit', () => rej(new Error('fake systemd exited'))));
  exited.catch(() => undefined);
  await Promise.race([isBound, exited]);
  const waitFor = (pred: (d: Datagram) => boolean, ms = 10_000): Promise<Datagram> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = received.find(pred);
        if (hit === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching datagram within ${ms} ms; got ${JSON.stringify(received)}`));
      }, ms);
      waiters.add(check);
      check();
    });
  let cursor = 0;
  return {
    received,
    waitFor,
    async next() {
      const at = cursor;
      await waitFor(() => received.length > at);
      cursor = at + 1;
      return received[at] as Datagram;
    },
  };
}
