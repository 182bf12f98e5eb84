// pino loggers for the supervisor (json or pretty) and for children (NDJSON on fd 1, read by the supervisor).
// Both redact secrets: known secret fields anywhere a config or connection options are logged.
import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import type { LogFormat, LogLevel } from '../config/types.js';
import { redactUrl, REDACTED } from '../config/redact.js';
import { prettyLineOptions } from './pretty.js';

/** Fields never logged as they are. URL-valued ones keep everything but the password. */
const SECRET_FIELDS = ['token', 'apiKey', 'api_key', 'password', 'secret', 'authorization', 'Authorization'];
const URL_FIELDS = ['brokerUrl', 'resultBackend', 'apiUrl', 'url', 'broker', 'broker_url', 'result_backend'];

export const REDACT_PATHS: string[] = [
  ...[...SECRET_FIELDS, ...URL_FIELDS].flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
  'config.celery.brokerUrl',
  'config.celery.resultBackend',
  'config.temporal.apiKey',
  'config.hatchet.token',
  'config.hatchet.apiUrl',
  'headers.authorization',
  '*.headers.authorization',
];

function censor(value: unknown, path: string[]): unknown {
  const field = path[path.length - 1] ?? '';
  if (typeof value === 'string' && URL_FIELDS.includes(field)) return redactUrl(value);
  return value === null || value === undefined ? value : REDACTED;
}

export const REDACT_OPTIONS = { paths: REDACT_PATHS, censor };

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Fields on every line (default: pino's pid and hostname). */
  base?: Record<string, unknown>;
  /** Where lines go (default: process.stdout). With format=pretty this is where the prettified text goes. */
  destination?: DestinationStream | NodeJS.WritableStream | number;
  /** Colours in pretty mode (default: when stdout is a terminal). */
  colorize?: boolean;
}

let stdoutGuarded = false;

/**
 * process.stdout, with one 'error' listener: when the reader of a piped stdout goes away (EPIPE: the journal or
 * pm2's log pipe restarted), the worker keeps working and its log output is discarded, said once on stderr.
 * Without it the unhandled 'error' event would crash the supervisor and take every child with it.
 */
export function guardedStdout(): NodeJS.WriteStream {
  if (!stdoutGuarded) {
    stdoutGuarded = true;
    process.stdout.once('error', (err: NodeJS.ErrnoException) => {
      process.stdout.on('error', () => undefined); // later write errors of the destroyed stream: said once above
      process.stderr.write(
        `task-backend-worker: stdout unwritable (${err.code ?? err.message}); log output is discarded from now on\n`,
      );
    });
  }
  return process.stdout;
}

/**
 * pino's `err` serializer, also for errors that crossed the IPC channel as plain {name, message, stack} objects
 * (a child's boot failure): pino's own one names those by their constructor, `type: "Object"`; this keeps the
 * error's class name (`BootError`, `ConnectionError`...), which is what an operator needs to see.
 */
export function errSerializer(e: unknown): unknown {
  if (e instanceof Error) return pino.stdSerializers.err(e);
  if (e !== null && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') {
    const { name, ...rest } = e as { name?: unknown } & Record<string, unknown>;
    return { type: typeof name === 'string' ? name : 'Error', ...rest };
  }
  return e;
}

/** The supervisor's (and CLI's) logger. */
export function createLogger(opts: LoggerOptions): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level,
    redact: REDACT_OPTIONS,
    serializers: { err: errSerializer },
    ...(opts.base !== undefined ? { base: opts.base } : {}),
  };
  if (opts.format === 'pretty') {
    // Loaded only when asked for: pino-pretty costs ~100 ms of startup that JSON (production) logging never needs.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    const stream = pretty({
      ...prettyLineOptions(),
      colorize: opts.colorize ?? process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'hostname',
      sync: true,
      destination: opts.destination ?? guardedStdout(),
    });
    return pino(options, stream);
  }
  // Default: Node's own stdout stream, not a synchronous fd writer. When stdout is a pipe or socket (pm2,
  // systemd's journal, `| tee`) Node makes it non-blocking, and a synchronous writer then meets EAGAIN whenever
  // the reader lags: pino's SonicBoom sleeps 100 ms per retry, blocking the supervisor's event loop (measured:
  // the relay fell to ~45k lines/s into a fast reader). process.stdout writes what the pipe takes, queues the
  // rest, and says when it is full, which the relay turns into backpressure on the children (log-relay.ts).
  const dest = opts.destination ?? guardedStdout();
  return pino(options, typeof dest === 'number' ? pino.destination({ dest, sync: true }) : dest);
}

export interface ChildLoggerOptions {
  level: LogLevel;
  /** Extra fields on every line; the supervisor adds child, pid and backend itself. */
  base?: Record<string, unknown>;
  /** Default fd 1. */
  destination?: DestinationStream | NodeJS.WritableStream | number;
  /** Buffer this many bytes before writing (faster, but lines can be lost on a hard crash). Default 0. */
  minLength?: number;
}

/**
 * A child process's logger: plain NDJSON (numeric level, epoch ms time) on stdout, no pid/hostname
 * (the supervisor tags lines), synchronous by default so a crashing child does not lose its last words.
 */
export function createChildLogger(opts: ChildLoggerOptions): Logger {
  const dest = opts.destination ?? 1;
  const minLength = opts.minLength ?? 0;
  const stream = typeof dest === 'number' ? pino.destination({ dest, sync: minLength === 0, minLength }) : dest;
  return pino(
    { level: opts.level, base: opts.base ?? null, redact: REDACT_OPTIONS, serializers: { err: errSerializer } },
    stream,
  );
}

/**
 * A logger writing to the same stream at the same level with the same bindings, without the redaction pass: for
 * high-volume lines whose fields are fixed and never secret-bearing (the per-task lines: a name, an id, numbers, a
 * repr string; redaction matches field names, so it never changes them). pino's wildcard redaction paths cost
 * ~40 µs per line (measured: 45 µs with them, 7 µs without), more than a no-op task itself.
 */
export function unredacted(logger: Logger): Logger {
  const own = logger as unknown as Record<symbol, unknown>;
  const stream = own[pino.symbols.streamSym] as DestinationStream | undefined;
  if (stream === undefined) return logger;
  // Every field the logger adds to a line (its base, pid and hostname included, and its children's bindings), as
  // pino keeps them: pre-serialised, ',"pid":1,"child":0'.
  const chindings = own[pino.symbols.chindingsSym];
  const base =
    typeof chindings === 'string' && chindings.length > 1
      ? (JSON.parse(`{${chindings.slice(1)}}`) as Record<string, unknown>)
      : null;
  return pino({ level: logger.level, base, serializers: { err: errSerializer } }, stream);
}

export interface LineTag {
  child: number;
  pid: number;
  backend: string;
}

/** pino's numeric levels; a non-JSON stderr line is a warning, a stdout line is info. */
const WRAP_LEVEL = { stdout: 30, stderr: 40 } as const;

/**
 * One line a child printed → one NDJSON line (no newline) carrying {child, pid, backend}. JSON object lines keep
 * their fields and get the tag appended (duplicate keys: the last wins, so the supervisor's tag is what a reader
 * sees); anything else is wrapped as {level, time, child, pid, backend, stream, msg}. Never drops a line.
 */
export function tagChildLine(
  line: string,
  tag: LineTag,
  stream: 'stdout' | 'stderr',
  now: () => number = Date.now,
): string {
  const fields = `"child":${tag.child},"pid":${tag.pid},"backend":${JSON.stringify(tag.backend)}`;
  if (line.length >= 2 && line.charCodeAt(0) === 123 /* { */ && line.charCodeAt(line.length - 1) === 125 /* } */) {
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        const body = line.slice(0, -1).trimEnd();
        return body === '{' ? `{${fields}}` : `${body},${fields}}`;
      }
    } catch {
      // not JSON: wrapped below
    }
  }
  return `{"level":${WRAP_LEVEL[stream]},"time":${now()},${fields},"stream":"${stream}","msg":${JSON.stringify(line)}}`;
}
