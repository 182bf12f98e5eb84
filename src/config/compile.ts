// Flags + environment + env file + defaults → one validated WorkerConfig, in ONE place.
// Pure: everything it reads (env, env file contents, host facts) is passed in. Precedence per setting:
// flag > environment > env file > default. Any bad value throws ConfigError naming setting, source and what is accepted.
import path from 'node:path';
import { ConfigError, settingName } from './errors.js';
import {
  ParseFailure,
  parseAutoscale,
  parseBool,
  parseDurationMs,
  parseEnum,
  parseHostPort,
  parseInt10,
  parseList,
  parseSizeBytes,
  parseUrl,
} from './parse.js';
import { redactUrl, REDACTED } from './redact.js';
import { expandNodeName, SETTINGS } from './settings.js';
import { isDefaultFn, type ConfigKey, type HostInfo, type Setting } from './table-types.js';
import type { WorkerConfig } from './types.js';

/** A raw flag value as commander gives it: a string, a list (repeatable flags) or a boolean (switches). */
export type FlagValue = string | readonly string[] | boolean;

export interface EnvFileInput {
  /** As the user gave it (shown in error sources). */
  path: string;
  vars: Record<string, string>;
}

export interface CompileInput {
  /** Values given on the command line, by setting key. Absent = not given. */
  flags?: Partial<Record<ConfigKey, FlagValue>>;
  env?: Record<string, string | undefined>;
  envFile?: EnvFileInput | null;
  host: HostInfo;
  /** Refuse a backend whose credentials are missing (hatchet without a token). Default true. */
  requireCredentials?: boolean;
  /**
   * Rules of the backends, run on the compiled config (src/backends/registry.ts checkBackendSettings): this module
   * knows no backend. Throws ConfigError.
   */
  check?: (config: WorkerConfig, sources: Record<ConfigKey, string>, o: { requireCredentials: boolean }) => void;
}

export interface CompiledSettings {
  config: WorkerConfig;
  /** Where each value came from: 'flag --x', 'env VAR', 'env file PATH (VAR)', 'default'. */
  sources: Record<ConfigKey, string>;
}

/** Spellings that set a nullable setting to null from a flag or the environment. */
const NULL_WORDS = new Set(['none', 'null', 'off', 'disabled']);

export function compileConfig(input: CompileInput): WorkerConfig {
  return compileSettings(input).config;
}

export function compileSettings(input: CompileInput): CompiledSettings {
  const env = input.env ?? {};
  const fileVars = input.envFile?.vars ?? {};
  const values = new Map<ConfigKey, unknown>();
  const sources = {} as Record<ConfigKey, string>;
  const get = (key: ConfigKey): unknown => {
    if (!values.has(key)) throw new Error(`settings table order: a default reads "${key}" before it is set`);
    return values.get(key);
  };

  for (const row of SETTINGS) {
    const raw = findRaw(row, input.flags ?? {}, env, fileVars, input.envFile?.path ?? '.env');
    if (raw === null) {
      values.set(row.key, isDefaultFn(row.default) ? row.default.fn(get, input.host) : row.default);
      sources[row.key] = 'default';
      continue;
    }
    sources[row.key] = raw.source;
    try {
      let v = parseRaw(row, raw.value, input.host.cwd);
      if (row.envInverted === true && !raw.source.startsWith('flag') && typeof v === 'boolean') v = !v;
      // Celery's -n substitutions (%h, %n, %d) are expanded before later defaults (control socket) read it.
      if (row.key === 'hostname') v = expandNodeName(String(v), input.host.hostname);
      values.set(row.key, v);
    } catch (err) {
      if (!(err instanceof ParseFailure)) throw err;
      throw new ConfigError({
        setting: row.key,
        source: raw.source,
        value: shown(row, raw.value),
        accepted: err.accepted,
      });
    }
  }

  const queues = values.get('queues');
  if (Array.isArray(queues) && queues.length === 0) values.set('queues', null);
  validate(values, sources);

  const built = {} as Record<string, unknown>;
  for (const [key, v] of values) setPath(built, key, v);
  const config = built as unknown as WorkerConfig;
  input.check?.(config, sources, { requireCredentials: input.requireCredentials ?? true });
  return { config, sources };
}

interface Raw {
  value: FlagValue;
  source: string;
}

function findRaw(
  row: Setting,
  flags: Partial<Record<ConfigKey, FlagValue>>,
  env: Record<string, string | undefined>,
  fileVars: Record<string, string>,
  filePath: string,
): Raw | null {
  const flag = flags[row.key];
  if (flag !== undefined && row.flag !== undefined) return { value: flag, source: `flag ${longFlag(row.flag)}` };
  // Empty values count as unset, so `VAR=` in a compose file or .env does not override a default with "".
  const layers: [Record<string, string | undefined>, (name: string) => string][] = [
    [env, (n) => `env ${n}`],
    [fileVars, (n) => `env file ${filePath} (${n})`],
  ];
  for (const [vars, label] of layers) {
    for (const name of row.env) {
      const v = vars[name];
      if (v !== undefined && v !== '') return { value: v, source: label(name) };
    }
  }
  if (row.compose !== undefined) {
    const merged: Record<string, string | undefined> = {};
    let source: string | null = null;
    for (const name of row.compose.env) {
      for (const [vars, label] of layers) {
        const v = vars[name];
        if (v !== undefined && v !== '') {
          merged[name] = v;
          source ??= label(name);
          break;
        }
      }
    }
    if (source !== null) return { value: row.compose.build(merged), source };
  }
  return null;
}

export function longFlag(spec: string): string {
  return /--[a-z0-9-]+/i.exec(spec)?.[0] ?? spec;
}

function parseRaw(row: Setting, value: FlagValue, cwd: string): unknown {
  if (typeof value === 'boolean') {
    if (row.type.kind !== 'bool') throw new ParseFailure('a value');
    return value;
  }
  const t = row.type;
  if (t.kind === 'list') {
    const items = parseList(value);
    return t.paths === true ? items.map((p) => path.resolve(cwd, p)) : items;
  }
  // Repeating a single-valued flag: the last one wins, as in most CLIs.
  const s = typeof value === 'string' ? value : (value[value.length - 1] ?? '');
  const lower = s.trim().toLowerCase();
  if (row.nullable === true && NULL_WORDS.has(lower) && !(t.kind === 'enum' && t.choices.includes(lower))) return null;
  if (row.zeroIsNull === true && /^0+$/.test(lower)) return null;
  switch (t.kind) {
    case 'int':
      return parseInt10(s, t.min ?? 0, t.max);
    case 'duration': {
      const ms = parseDurationMs(s, t.minMs ?? 0);
      return t.unit === 'ms' ? ms : ms / 1000;
    }
    case 'size': {
      const bytes = parseSizeBytes(s, t.bare);
      return t.unit === 'B' ? bytes : Math.ceil(bytes / 1024);
    }
    case 'bool':
      return parseBool(s);
    case 'enum':
      return parseEnum(s, t.choices, t.aliases);
    case 'string':
      if (s.trim() === '') throw new ParseFailure('a non-empty string');
      return s.trim();
    case 'path':
      if (s.trim() === '') throw new ParseFailure('a file path');
      return path.resolve(cwd, s.trim());
    case 'url':
      return parseUrl(s, t.protocols);
    case 'hostport':
      return parseHostPort(s);
    case 'autoscale':
      return parseAutoscale(s);
    default: {
      const never: never = t;
      throw new Error(`unknown setting type ${JSON.stringify(never)}`);
    }
  }
}

/** How a raw value may appear in an error: never a secret. */
function shown(row: Setting, value: FlagValue): string {
  if (row.secret === true) return REDACTED;
  const s = typeof value === 'string' ? value : Array.isArray(value) ? value.join(',') : String(value);
  if (row.type.kind !== 'url' && !s.includes('://')) return s;
  const redacted = redactUrl(s);
  // A malformed URL may still carry a password before an "@": hide everything up to the last one.
  return redacted === s && s.includes('@')
    ? s.replace(/^(.*?\/\/)?.*@/, (_m, scheme?: string) => `${scheme ?? ''}***@`)
    : redacted;
}

/** Rules that involve more than one setting (a backend's own rules are `check`). */
function validate(values: Map<ConfigKey, unknown>, sources: Record<ConfigKey, string>): void {
  const interval = values.get('heartbeatIntervalMs') as number;
  const timeout = values.get('heartbeatTimeoutMs') as number;
  if (timeout <= interval) {
    const blameInterval = sources.heartbeatTimeoutMs === 'default';
    const key: ConfigKey = blameInterval ? 'heartbeatIntervalMs' : 'heartbeatTimeoutMs';
    const other: ConfigKey = blameInterval ? 'heartbeatTimeoutMs' : 'heartbeatIntervalMs';
    const otherMs = values.get(other) as number;
    throw new ConfigError({
      setting: key,
      source: sources[key],
      value: `${values.get(key) as number}ms`,
      accepted: `${blameInterval ? 'less' : 'more'} than ${settingName(other, sources[other])} (${otherMs}ms)`,
    });
  }
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    o[p] ??= {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1] as string] = value;
}
