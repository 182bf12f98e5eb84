// The one error type of settings: it names the setting, where the value came from, and what is accepted,
// in one line. Values of secret settings and passwords inside URLs are redacted before they get here.
import { EXIT } from '../exit-codes.js';

export interface ConfigErrorInit {
  /** Setting key (e.g. "concurrency", "celery.brokerUrl") or "env-file". */
  setting: string;
  /** 'flag --x' | 'env VAR' | 'env file PATH (VAR)' | 'default' */
  source: string;
  /** The offending value, already redacted; null when the value is missing. */
  value: string | null;
  /** What would have been accepted. */
  accepted: string;
  /** Defaults to 64 (usage) for flag values and 78 (config) for everything else. */
  exitCode?: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly setting: string;
  readonly source: string;
  readonly value: string | null;
  readonly accepted: string;
  readonly exitCode: number;

  constructor(init: ConfigErrorInit) {
    const shown = init.value === null ? '' : ` ${JSON.stringify(truncate(init.value))}`;
    const what = init.value === null ? `missing ${init.setting}` : `invalid ${init.setting}${shown}`;
    super(`${what} (from ${init.source}): expected ${init.accepted}`);
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
