// The pool's local control socket: a Unix stream socket (0600, in a 0700 directory) speaking line-delimited
// JSON, one request and one reply per line. `task-backend-worker status` is its client (queryControl).
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';

export type ControlRequest = { cmd: 'ping' } | { cmd: 'status' };

export type ControlReply =
  | { ok: true; cmd: 'ping'; pid: number; uptimeMs: number }
  | { ok: true; cmd: 'status'; status: unknown }
  | { ok: false; error: string };

export interface ControlHandlers {
  ping: () => { pid: number; uptimeMs: number };
  /** The pool's status document (status-rows.ts builds it); may sample CPU, hence async. */
  status: () => Promise<unknown>;
}

/** Largest request line accepted; requests are tiny, so anything bigger is a confused or hostile client. */
const MAX_LINE = 64 * 1024;

/** Pure: parse one request line, or say what is wrong with it. */
export function parseRequest(line: string): ControlRequest | { error: string } {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    return { error: 'request is not JSON' };
  }
  const cmd = (data as { cmd?: unknown } | null)?.cmd;
  if (cmd === 'ping' || cmd === 'status') return { cmd };
  return { error: `unknown command ${JSON.stringify(cmd)}; accepted: ping, status` };
}

async function answer(handlers: ControlHandlers, line: string): Promise<ControlReply> {
  const req = parseRequest(line);
  if ('error' in req) return { ok: false, error: req.error };
  try {
    if (req.cmd === 'ping') return { ok: true, cmd: 'ping', ...handlers.ping() };
    return { ok: true, cmd: 'status', status: await handlers.status() };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

function serve(socket: Socket, handlers: ControlHandlers): void {
  let buf = '';
  let chain = Promise.resolve();
  socket.setEncoding('utf8');
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_LINE && !buf.includes('\n')) {
      socket.end(`${JSON.stringify({ ok: false, error: 'request line too long' })}\n`);
      return;
    }
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === '') continue;
      // Replies keep request order even when a status sample takes a while.
      chain = chain
        .then(() => answer(handlers, line))
        .then((reply) => {
          if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
        });
    }
  });
}

/** Does something accept connections at this path? (false for a stale socket file left by a dead pool). */
export function isListening(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done(true));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Thrown when another live pool already owns the control socket path. */
export class ControlSocketInUse extends Error {
  override name = 'ControlSocketInUse';
}

/** Thrown when the socket's directory would let another user replace the socket or answer in the pool's name. */
export class ControlSocketUnsafe extends Error {
  override name = 'ControlSocketUnsafe';
}

/**
 * Create the socket's directory 0700 when missing; refuse one that is not ours or writable by its group or others
 * (e.g. /tmp/task-backend-worker-<uid> pre-created 0777 by someone else: they could replace the socket and answer
 * `status` in this pool's name). A symbolic link is judged by its target, and must itself be ours or root's (only
 * its owner can repoint it).
 */
export function ensureSocketDir(dir: string, uid: number | null = process.getuid?.() ?? null): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const link = lstatSync(dir);
  const st = link.isSymbolicLink() ? statSync(dir) : link;
  let problem: string | null = null;
  if (link.isSymbolicLink() && uid !== null && link.uid !== uid && link.uid !== 0)
    problem = `is a symbolic link owned by uid ${link.uid}, not by this user (uid ${uid})`;
  else if (!st.isDirectory()) problem = 'is not a directory';
  else if (uid !== null && st.uid !== uid) problem = `belongs to uid ${st.uid}, not to this user (uid ${uid})`;
  else if ((st.mode & 0o022) !== 0)
    problem = `is writable by its group or others (mode ${(st.mode & 0o777).toString(8)})`;
  if (problem === null) return;
  throw new ControlSocketUnsafe(
    `control socket directory ${dir} ${problem}: another user could replace the socket; remove it, or point ` +
      '--control-socket (TASK_CONTROL_SOCKET) or XDG_RUNTIME_DIR at a directory only this user can write',
  );
}

/**
 * Listen on `path`: create its directory 0700 when missing (refuse an unsafe one), replace a stale socket, refuse a
 * live one, make the socket 0600. Resolves with a close function that also removes the socket file.
 */
export async function startControlServer(
  path: string,
  handlers: ControlHandlers,
): Promise<{ server: Server; close: () => Promise<void> }> {
  ensureSocketDir(dirname(path));
  let existing = false;
  try {
    existing = statSync(path).isSocket();
  } catch {
    existing = false;
  }
  if (existing) {
    if (await isListening(path)) throw new ControlSocketInUse(`control socket ${path} is in use by a running pool`);
    unlinkSync(path);
  }
  const server = createServer((socket) => serve(socket, handlers));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Created inside a 0700 directory, so the moment before chmod exposes nothing to other users.
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  server.unref();
  let closing: Promise<void> | null = null;
  return {
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        try {
          unlinkSync(path);
        } catch {
          // Already gone.
        }
      });
      return closing;
    },
  };
}

/** Why a query failed, so the CLI can print one clear line. */
export class ControlUnavailable extends Error {
  override name = 'ControlUnavailable';
}

/** Send one request to a running pool and wait for its reply. */
export function queryControl(path: string, req: ControlRequest, timeoutMs = 5000): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    let settled = false;
    const finish = (err: Error | null, reply?: ControlReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      if (err !== null) reject(err);
      else resolve(reply as ControlReply);
    };
    const timer = setTimeout(
      () => finish(new ControlUnavailable(`no reply from ${path} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    s.setEncoding('utf8');
    s.once('connect', () => s.write(`${JSON.stringify(req)}\n`));
    s.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        finish(null, JSON.parse(buf.slice(0, nl)) as ControlReply);
      } catch {
        finish(new ControlUnavailable(`garbled reply from ${path}`));
      }
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      const why =
        e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
          ? `no pool is running (nothing listens on ${path})`
          : e.code === 'EACCES'
            ? `permission denied on ${path} (run as the pool's user)`
            : `cannot reach ${path}: ${e.message}`;
      finish(new ControlUnavailable(why));
    });
    s.once('close', () => finish(new ControlUnavailable(`${path} closed without a reply`)));
  });
}
