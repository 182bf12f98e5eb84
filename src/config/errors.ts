// The one error type of settings: ONE line naming what the user typed (the flag or environment name, never an
// internal field path), where the value came from, and what is accepted. Values of secret settings and
// passwords inside URLs are redacted before they get here.
import { EXIT } from '../exit-codes.js';
import { SETTINGS } from './settings.js';

export interface ConfigErrorInit {
  /** Setting key (e.g. "concurrency", "celery.brokerUrl") or "env-file"; messages show the user's name for it. */
  setting: string;
  /** 'flag --x' | 'env VAR' | 'env file PATH (VAR)' | 'default' */
  source: string;
  /** The offending value, already redacted; null when the value is missing. */
  value: string | null;
  /** What would have been accepted. */
  accepted: string;
  /** Defaults to 64 (usage) for flag values and 78 (config) for everything else. */
  exitCode?: number;
  /** The whole line, when "invalid NAME VALUE: expected …" does not fit (task modules that do not load). */
  message?: string;
}

/**
 * What the user typed for a setting, from where its value came: `--broker` for a flag, `CELERY_BROKER_URL` for
 * the environment or an env file, and both (`--broker/CELERY_BROKER_URL`) for a default.
 */
export function settingName(setting: string, source: string): string {
  if (setting === 'env-file') return 'env file';
  if (source.startsWith('flag ')) return source.slice(5);
  const fromFile = /^env file .* \(([^)]+)\)$/.exec(source);
  if (fromFile !== null) return fromFile[1] as string;
  if (source.startsWith('env ')) return source.slice(4);
  const row = SETTINGS.find((s) => s.key === setting);
  if (row === undefined) return setting;
  const flag = row.flag === undefined ? null : (/--[a-z0-9-]+/i.exec(row.flag)?.[0] ?? null);
  return flag === null ? (row.env[0] ?? setting) : `${flag}/${row.env[0] ?? ''}`;
}

/** Where a value came from, as a suffix for messages: '' for a flag (its name says it) and for a default. */
export function sourceNote(setting: string, source: string): string {
  if (source.startsWith('flag ')) return setting === 'env-file' ? ` (from ${source.slice(5)})` : '';
  const fromFile = /^env file (.*) \(([^)]+)\)$/.exec(source);
  if (fromFile !== null) return ` (from env file ${fromFile[1] as string})`;
  if (source.startsWith('env '))
    return setting === 'env-file' ? ` (from ${source.slice(4)})` : ' (from the environment)';
  return '';
}

/**
 * Where a setting's value was set, in the user's words: `--broker`, `CELERY_BROKER_URL in the environment`,
 * `CELERY_BROKER_URL in env file .env`, or `the default of --broker/CELERY_BROKER_URL`.
 */
export function whereSet(setting: string, source: string): string {
  const name = settingName(setting, source);
  const file = /^env file (.*) \([^)]+\)$/.exec(source);
  if (file !== null) return `${name} in env file ${file[1] as string}`;
  if (source.startsWith('env ')) return `${name} in the environment`;
  if (source.startsWith('flag ')) return name;
  return `the default of ${name}`;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly setting: string;
  readonly source: string;
  readonly value: string | null;
  readonly accepted: string;
  readonly exitCode: number;

  constructor(init: ConfigErrorInit) {
    const name = settingName(init.setting, init.source);
    const from = sourceNote(init.setting, init.source);
    const what = init.value === null ? `missing ${name}` : `invalid ${name} ${JSON.stringify(truncate(init.value))}`;
    super(init.message ?? `${what}${from}: expected ${init.accepted}`);
    this.setting = init.setting;
    this.source = init.source;
    this.value = init.value;
    this.accepted = init.accepted;
    this.exitCode = init.exitCode ?? (init.source.startsWith('flag') ? EXIT.USAGE : EXIT.CONFIG);
  }
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
