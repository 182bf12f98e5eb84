// Relays a child's stdout/stderr into the supervisor's log: NDJSON lines get {child, pid, backend} spliced in
// without re-serialising (the hot path), anything else is wrapped as a field of a supervisor log line. Nothing is
// dropped: partial last lines are flushed at end of stream and over-long lines are split into parts.
import type { Readable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** Where relayed lines go. */
export interface LineSink {
  /**
   * A batch of complete NDJSON lines, already tagged. `false` means the destination is full: the relay stops
   * reading the child's pipe until `onDrain` calls back (the child then blocks on its own full pipe), so output
   * is never dropped and never buffered without bound.
   */
  raw(text: string): boolean | void;
  /** A line that is not a JSON object, logged as a field. */
  wrapped(level: 'info' | 'warn', fields: Record<string, unknown>, msg: string): void;
  /** Call `resume` once the destination took what it buffered (required for a sink whose raw() returns false). */
  onDrain?(resume: () => void): void;
}

export const MAX_LINE_CHARS = 1 << 20;

interface DrainableStream {
  /** Node streams answer false when full; a plain `{write}` destination answers nothing (never full). */
  write(s: string): boolean | void;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  removeListener(event: 'drain' | 'close', listener: () => void): unknown;
  /** Node streams: set once the stream failed (EPIPE) or closed; it will never drain again. */
  destroyed?: boolean;
}

const gone = (s: DrainableStream): boolean => s.destroyed === true;

/**
 * A sink writing through `logger`: raw lines go straight to its destination stream (pretty or JSON alike), with
 * backpressure. One 'drain' listener serves every paused child (no listener per child). A destroyed stream
 * (its reader went away) discards, and releases paused children: waiting for a 'drain' that never comes would
 * block every child on its own full pipe.
 */
export function loggerSink(logger: Logger): LineSink {
  const dest = (logger as unknown as Record<symbol, DrainableStream | undefined>)[pino.symbols.streamSym];
  const out: DrainableStream = dest ?? process.stdout;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    out.removeListener('drain', release);
    out.removeListener('close', release);
    for (const r of waiting.splice(0)) r();
  };
  return {
    raw(text) {
      if (logger.level === 'silent' || gone(out)) return true;
      return out.write(text) !== false || gone(out);
    },
    wrapped(level, fields, msg) {
      logger[level](fields, msg);
    },
    onDrain(resume) {
      waiting.push(resume);
      if (waiting.length > 1) return;
      out.once('drain', release);
      out.once('close', release);
    },
  };
}

export interface RelayOptions {
  fields: { child: number; pid: number | null; backend: string };
  stream: 'stdout' | 'stderr';
  sink: LineSink;
  maxLineChars?: number;
}

/** Relay one stream until it ends; resolves then (after the last partial line was written). */
export function relayLines(input: Readable, opts: RelayOptions): Promise<void> {
  const { sink, fields, stream } = opts;
  const max = opts.maxLineChars ?? MAX_LINE_CHARS;
  const prefix = `{${JSON.stringify(fields).slice(1, -1)}`;
  const level = stream === 'stderr' ? 'warn' : 'info';
  let pending = '';
  let batch = '';

  let paused = false;
  /** false when the sink is full (see LineSink.raw). */
  const flush = (): boolean => {
    if (batch.length === 0) return true;
    const ok = sink.raw(batch) !== false;
    batch = '';
    return ok;
  };
  const wrap = (line: string, extra: Record<string, unknown> = {}): void => {
    flush(); // keep the order of lines
    sink.wrapped(level, { ...fields, stream, ...extra, line }, 'child output');
  };
  const line = (text: string): void => {
    if (text.length === 0) return;
    if (text.length > max) {
      const parts = Math.ceil(text.length / max);
      for (let i = 0; i < parts; i++) wrap(text.slice(i * max, (i + 1) * max), { part: i + 1, parts });
      return;
    }
    if (text.charCodeAt(0) === 123 /* { */ && text.charCodeAt(text.length - 1) === 125 /* } */) {
      try {
        JSON.parse(text); // validation only: an object literal, so splicing keeps it valid
        batch += text.length === 2 ? `${prefix}}\n` : `${prefix},${text.slice(1)}\n`;
        return;
      } catch {
        // not JSON after all: wrapped below
      }
    }
    wrap(text);
  };

  input.setEncoding('utf8');
  input.on('data', (chunk: string) => {
    const data = pending.length > 0 ? pending + chunk : chunk;
    let start = 0;
    for (;;) {
      const nl = data.indexOf('\n', start);
      if (nl === -1) break;
      const end = nl > start && data.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      line(data.slice(start, end));
      start = nl + 1;
    }
    pending = start === 0 ? data : data.slice(start);
    // A line longer than the cap is emitted in parts as it arrives, so memory stays bounded.
    while (pending.length > max) {
      wrap(pending.slice(0, max), { partial: true });
      pending = pending.slice(max);
    }
    if (!flush() && sink.onDrain !== undefined && !paused) {
      paused = true;
      input.pause();
      sink.onDrain(() => {
        paused = false;
        input.resume();
      });
    }
  });
  return new Promise((resolve) => {
    const done = (): void => {
      if (pending.length > 0) line(pending);
      pending = '';
      flush();
      resolve();
    };
    input.once('end', done);
    input.once('error', done);
  });
}
