// Types of the settings table (src/config/settings.ts): one row per WorkerConfig field.
import type { WorkerConfig } from './types.js';

type Leaf = string | number | boolean | null | readonly string[] | { max: number; min: number };

/** Dotted path of every leaf field of WorkerConfig, e.g. "celery.brokerUrl", "temporal.tls.enabled". */
export type ConfigKey = Paths<WorkerConfig>;
type Paths<T, P extends string = ''> = {
  [K in keyof T & string]-?: Exclude<T[K], undefined> extends Leaf
    ? `${P}${K}`
    : Paths<Exclude<T[K], undefined>, `${P}${K}.`>;
}[keyof T & string];

export type SettingGroup = 'core' | 'celery' | 'temporal' | 'hatchet' | 'ops';

export const GROUP_TITLES: Record<SettingGroup, string> = {
  core: 'Core',
  ops: 'Pool, logs and operations',
  celery: 'Celery (Redis, RabbitMQ)',
  temporal: 'Temporal',
  hatchet: 'Hatchet',
};

export type SettingType =
  | { kind: 'int'; min?: number; max?: number }
  /** Stored in ms or s; bare numbers are seconds. */
  | { kind: 'duration'; unit: 'ms' | 's'; minMs?: number }
  /** Parsed to bytes, stored in `unit`; `bare` is the unit of a bare number. */
  | { kind: 'size'; bare: 'KiB' | 'B'; unit: 'KiB' | 'B' }
  | { kind: 'bool' }
  | { kind: 'enum'; choices: readonly string[]; aliases?: Record<string, string> }
  /** Comma-separated; `paths` resolves each item against the working directory. */
  | { kind: 'list'; paths?: boolean }
  | { kind: 'string' }
  /** Resolved to an absolute path against the working directory. */
  | { kind: 'path' }
  | { kind: 'url'; protocols: readonly string[] }
  | { kind: 'hostport' }
  | { kind: 'autoscale' };

/** What a default may depend on besides other settings: facts about the machine (all injected). */
export interface HostInfo {
  hostname: string;
  cpuCount: number;
  /** Is stdout a terminal (pretty logs by default)? */
  stdoutIsTTY: boolean;
  cwd: string;
  tmpdir: string;
  /** $XDG_RUNTIME_DIR, or null. */
  runtimeDir: string | null;
  uid: number | null;
}

/** A computed default: reads settings that come EARLIER in the table, and the host. */
export interface DefaultFn {
  fn: (get: (key: ConfigKey) => unknown, host: HostInfo) => unknown;
  /** How the default reads in docs and --help. */
  doc: string;
}

export interface Setting {
  key: ConfigKey;
  /** Commander flag spec, e.g. "-c, --concurrency <n>"; absent = environment only. */
  flag?: string;
  /** Environment names; the first is canonical, the others are accepted aliases. */
  env: readonly string[];
  /** Environment values mean the opposite of the setting (TASK_NO_BUILTINS=true → builtins=false). */
  envInverted?: boolean;
  /** Extra environment names combined into the value when none of `env` is set (TEMPORAL_HOST + TEMPORAL_PORT). */
  compose?: { env: readonly string[]; build: (values: Record<string, string | undefined>) => string; doc: string };
  type: SettingType;
  /** A literal default, or a function of earlier settings and the host. */
  default: unknown;
  /** The value may be null: unset by default, or "none"/"off" in a flag or the environment. */
  nullable?: boolean;
  /** Value that also means "no limit" → null (Celery's --max-tasks-per-child 0). */
  zeroIsNull?: boolean;
  /** Never printed: logs, errors, help and `config` output show [REDACTED]. */
  secret?: boolean;
  /** Example value for sample.env and docs (else the default). */
  example?: string;
  group: SettingGroup;
  description: string;
}

export function isDefaultFn(d: unknown): d is DefaultFn {
  return typeof d === 'object' && d !== null && 'fn' in d && typeof (d as DefaultFn).fn === 'function';
}

/** A computed default for a row of the table. */
export const computed = (doc: string, fn: DefaultFn['fn']): DefaultFn => ({ doc, fn });
