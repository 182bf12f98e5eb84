// The few Python names a pickled Celery result may use, each mapped to data by a pure function: datetimes and
// decimals (as kombu's JSON would write them), sets, protocol 2's bytes, Celery's AsyncResult/GroupResult (as
// their as_tuple()), the result backend inside a pickled AsyncResult (opaque), and exception instances (as Celery's
// exception dict). Nothing here imports, evaluates or looks anything up by name: an unlisted name is refused.

export class PickleRefusedError extends Error {
  override name = 'PickleRefusedError';
}

/** A name the reader met, kept only until the opcode that uses it. */
export class Global {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get fqn(): string {
    return `${this.module}.${this.name}`;
  }
}
/** The result of a mapped REDUCE that is an opaque object (a result backend inside a pickled AsyncResult). */
export const OPAQUE = Object.freeze({ __opaque__: true });
/** datetime.timezone(offset): only used as a datetime's tzinfo. */
export class TzOffset {
  constructor(readonly seconds: number) {}
}
/** An exception instance mapped to Celery's exception dict; BUILD on it (its __dict__) is accepted and ignored. */
type ExcDict = { exc_type: string; exc_message: unknown[]; exc_module: string };
export const EXCEPTIONS = new WeakSet<object>();

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
const b = (v: unknown): Buffer | null => (Buffer.isBuffer(v) ? v : null);

/** datetime.datetime(bytes[, tz]) as kombu's JSON writes it: ISO 8601 (with the offset when aware). */
function isoDatetime(args: unknown[]): string {
  const raw = b(args[0]);
  if (!raw || raw.length !== 10) throw new PickleRefusedError('datetime.datetime state is not 10 bytes');
  const year = raw.readUInt16BE(0);
  const micro = (raw[7]! << 16) | (raw[8]! << 8) | raw[9]!;
  const base = `${pad(year, 4)}-${pad(raw[2]!)}-${pad(raw[3]!)}T${pad(raw[4]!)}:${pad(raw[5]!)}:${pad(raw[6]!)}`;
  return base + (micro ? `.${pad(micro, 6)}` : '') + offsetText(args[1]);
}

function offsetText(tz: unknown): string {
  if (tz === undefined || tz === null) return '';
  if (!(tz instanceof TzOffset)) throw new PickleRefusedError('unsupported tzinfo');
  const s = tz.seconds;
  const sign = s < 0 ? '-' : '+';
  const a = Math.abs(s);
  return `${sign}${pad(Math.floor(a / 3600))}:${pad(Math.floor((a % 3600) / 60))}`;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : NaN);

/** Python exception classes Celery puts in results, mapped to its exception dict (prepare_exception's shape). */
function isExceptionName(module: string, name: string): boolean {
  if (module === 'builtins' || module === 'exceptions')
    return /^[A-Z][A-Za-z]*(Error|Exception|Exit|Interrupt|Warning|Iteration)$/.test(name);
  return (module === 'celery.exceptions' || module === 'kombu.exceptions') && /^[A-Z][A-Za-z]*$/.test(name);
}

/** REDUCE handlers: a global name → a pure function of the arguments. Nothing here imports or looks anything up. */
export function reducer(g: Global): ((args: unknown[]) => unknown) | null {
  switch (g.fqn) {
    case 'datetime.datetime':
      return isoDatetime;
    case 'datetime.date': {
      return (args) => {
        const raw = b(args[0]);
        if (!raw || raw.length !== 4) throw new PickleRefusedError('datetime.date state is not 4 bytes');
        return `${pad(raw.readUInt16BE(0), 4)}-${pad(raw[2]!)}-${pad(raw[3]!)}`;
      };
    }
    case 'datetime.time':
      return (args) => {
        const raw = b(args[0]);
        if (!raw || raw.length !== 6) throw new PickleRefusedError('datetime.time state is not 6 bytes');
        const micro = (raw[3]! << 16) | (raw[4]! << 8) | raw[5]!;
        return `${pad(raw[0]!)}:${pad(raw[1]!)}:${pad(raw[2]!)}${micro ? `.${pad(micro, 6)}` : ''}${offsetText(args[1])}`;
      };
    case 'datetime.timedelta':
      // As seconds (kombu's JSON has no timedelta; a number is what a JS task can use).
      return (args) => num(args[0] ?? 0) * 86_400 + num(args[1] ?? 0) + num(args[2] ?? 0) / 1e6;
    case 'datetime.timezone':
      return (args) => new TzOffset(typeof args[0] === 'number' ? args[0] : 0);
    case 'decimal.Decimal':
      return (args) => String(args[0]);
    case 'builtins.set':
    case 'builtins.frozenset':
    case '__builtin__.set':
    case '__builtin__.frozenset':
      return (args) => (Array.isArray(args[0]) ? [...(args[0] as unknown[])] : []);
    case '_codecs.encode':
      // Protocol 2's bytes: encode(text, 'latin1').
      return (args) => Buffer.from(String(args[0]), 'latin1');
    case 'celery.app.base._unpickle_appattr':
      return (args) => celeryResult(String(args[0]), Array.isArray(args[1]) ? (args[1] as unknown[]) : []);
    case 'celery.result.GroupResult':
      return (args) => celeryResult('GroupResult', args);
    case 'celery.result.AsyncResult':
      return (args) => celeryResult('AsyncResult', args);
    case 'celery.backends.base.unpickle_backend':
      return () => OPAQUE;
    default:
      if (isExceptionName(g.module, g.name)) {
        return (args) => {
          const e: ExcDict = { exc_type: g.name, exc_message: [...args], exc_module: g.module };
          EXCEPTIONS.add(e);
          return e;
        };
      }
      return null;
  }
}

/** Celery's result objects as the JSON backends carry them (as_tuple): [[id, parent], children]. */
function celeryResult(kind: string, args: unknown[]): unknown {
  if (kind === 'AsyncResult') return [[args[0], null], null];
  if (kind === 'GroupResult') return [[args[0], null], Array.isArray(args[1]) ? args[1] : []];
  throw new PickleRefusedError(
    `pickle needs the Celery app attribute ${kind}; only AsyncResult and GroupResult are read`,
  );
}

/** Globals that may be pushed at all: the REDUCE handlers above, and result backend classes (inert arguments). */
export function acceptGlobal(module: string, name: string): Global {
  const g = new Global(module, name);
  if (reducer(g) !== null) return g;
  if (/^celery\.backends(\.[a-z_]+)+$/.test(module) && /^[A-Z][A-Za-z]*Backend$/.test(name)) return g;
  throw new PickleRefusedError(
    `pickle needs ${module}.${name}; refused without running it (only plain data and Celery's result types are read)`,
  );
}
