// A child's record of the task ids it is running, kept in a small file the pool reads only when it needs it (a
// redelivered id asked about, the child's exit): writing it costs the child one pwrite to memory (/dev/shm) and
// wakes nobody, where a start report down the IPC pipe woke the supervisor for every batch of tasks (measured in a
// no-op drain on RabbitMQ: the supervisor's CPU ~11 -> ~6 us a task). The file is rewritten in place from its start
// before each batch of tasks starts; a reader can meet a write half done, so each version carries its length and a
// checksum (a torn read is read again), and whatever an older, longer version left after it is ignored.
import {
  closeSync,
  lstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '../../util/pid.js';

/** FNV-1a over the JSON text: enough to tell a torn read from a whole one (not a defence against anyone). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Pure: one version of the record, `<length> <checksum>\n<json>\n`. */
export function encodeRecord(ids: readonly string[]): string {
  const json = JSON.stringify(ids);
  return `${json.length} ${fnv1a(json).toString(16)}\n${json}\n`;
}

/** Pure: the ids of a whole version (what follows it ignored); null for a torn or foreign text. */
export function decodeRecord(text: string): string[] | null {
  const nl = text.indexOf('\n');
  const m = /^(\d+) ([0-9a-f]+)$/.exec(nl < 0 ? '' : text.slice(0, nl));
  if (m === null) return null;
  const json = text.slice(nl + 1, nl + 1 + Number(m[1]));
  if (json.length !== Number(m[1]) || fnv1a(json).toString(16) !== m[2] || text[nl + 1 + json.length] !== '\n') {
    return null;
  }
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null;
  } catch {
    return null;
  }
}

/** The child's side: one open file, rewritten in place from its start. */
export class RunRecordWriter {
  private constructor(private readonly fd: number) {}

  /** Open (create, empty) `dir`/`pid`; null when it cannot be (the caller reports over IPC instead). */
  static open(dir: string, pid: number): RunRecordWriter | null {
    try {
      return new RunRecordWriter(openSync(join(dir, String(pid)), 'w', 0o600));
    } catch {
      return null;
    }
  }

  /** Replace the record with `ids`; throws when the write fails (a full /dev/shm). */
  write(ids: readonly string[]): void {
    writeSync(this.fd, encodeRecord(ids), 0, 'utf8');
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // closed already
    }
  }
}

/** How often a torn read is read again before the record counts as unreadable. */
const READ_TRIES = 5;

/**
 * The pool's side: the ids in child `pid`'s record; [] when it has none (never started a task), null when it
 * cannot be read whole.
 */
export function readRecord(dir: string, pid: number): string[] | null {
  const file = join(dir, String(pid));
  for (let i = 0; i < READ_TRIES; i++) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      return null;
    }
    if (text === '') return [];
    const ids = decodeRecord(text);
    if (ids !== null) return ids;
  }
  return null;
}

/** Remove child `pid`'s record (it exited and was read). */
export function dropRecord(dir: string, pid: number): void {
  rmSync(join(dir, String(pid)), { force: true });
}

/** Directories of this user's pools that ended without removing theirs (killed): removed. */
function sweep(base: string): void {
  for (const name of readdirSync(base)) {
    const m = /^tbw-runs-(\d+)-/.exec(name);
    if (m === null || pidAlive(Number(m[1]))) continue;
    const dir = join(base, name);
    // lstat: a symlink someone else planted under that name is never followed, only our own directories go.
    const st = lstatSync(dir);
    if (st.isDirectory() && st.uid === process.getuid?.()) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The pool's directory for its children's records: private (0700), named after the supervisor's pid, in memory
 * where the machine has /dev/shm; null when none can be made (children then report over IPC).
 */
export function makeRecordDir(pid = process.pid): string | null {
  for (const base of ['/dev/shm', tmpdir()]) {
    try {
      if (!statSync(base).isDirectory()) continue;
      try {
        sweep(base);
      } catch {
        // another process's directory went meanwhile, or one we may not read: not ours to clean
      }
      return mkdtempSync(join(base, `tbw-runs-${pid}-`));
    } catch {
      // not here
    }
  }
  return null;
}

export function removeRecordDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
