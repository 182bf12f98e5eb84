// Relays a child's stdout/stderr into the supervisor's log: NDJSON lines get {child, pid, backend} spliced in
// without re-serialising (the hot path), anything else is wrapped as a field of a supervisor log line. Nothing is
// dropped: partial last lines are flushed at end of stream and over-long lines are split into parts.
import type { Readable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** Where relayed lines go. */
export interface LineSink {
  /** Already-formatted NDJSON text: one or more complete lines, each ending in "\n". */
  raw(text: string): void;
  /** A line that is not a JSON object, logged as a field. */
  wrapped(level: 'info' | 'warn', fields: Record<string, unknown>, msg: string): void;
}

export const MAX_LINE_CHARS = 1 << 20;

/** A sink writing through `logger`: raw lines go straight to its destination stream (pretty or JSON alike). */
export function loggerSink(logger: Logger): LineSink {
  const dest = (logger as unknown as Record<symbol, { write(s: string): unknown } | undefined>)[pino.symbols.streamSym];
  const out = dest ?? process.stdout;
  return {
    raw(text) {
      if (logger.level !== 'silent') out.write(text);
    },
    wrapped(level, fields, msg) {
      logger[level](fields, msg);
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

  const flush = (): void => {
    if (batch.length > 0) {
      sink.raw(batch);
      batch = '';
    }
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
    flush();
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
