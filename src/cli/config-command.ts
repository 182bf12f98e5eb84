// `task-backend-worker config [--json]`: the settings the worker would run with, where each value came from,
// secrets redacted. The first thing to run when a worker does not behave as configured. The listing uses the
// names the user types (environment names, in env-file syntax) so a line can be pasted into an env file.
import type { Command } from 'commander';
import { formatDuration, formatSize } from '../config/parse.js';
import { redact, redactValue } from '../config/redact.js';
import { SETTINGS } from '../config/settings.js';
import type { Setting } from '../config/table-types.js';
import { commandIo, resolveCommand } from './program.js';

/** A setting's value as it would be written in the environment: 30s, 512MiB, a,b, 10,3, none. */
export function envText(row: Setting, value: unknown): string {
  if (value === null || value === undefined) return 'none';
  const t = row.type;
  if (row.envInverted === true && typeof value === 'boolean') return String(!value);
  if (t.kind === 'duration' && typeof value === 'number') return formatDuration(t.unit === 'ms' ? value : value * 1000);
  if (t.kind === 'size' && typeof value === 'number') return formatSize(t.unit === 'B' ? value : value * 1024);
  if (t.kind === 'autoscale' && typeof value === 'object') {
    const a = value as { max: number; min: number };
    return `${a.max},${a.min}`;
  }
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

export function registerConfigCommand(program: Command): void {
  program
    .command('config')
    .description('print the compiled settings (secrets redacted) and where each value came from, then exit')
    .option('--json', 'print the WorkerConfig as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const io = commandIo(cmd);
      // Showing settings must work before credentials are in place.
      const { config, sources, envFile } = await resolveCommand(cmd, { requireCredentials: false });
      if (opts.json === true) {
        io.stdout(`${JSON.stringify(redact(config), null, 2)}\n`);
        return;
      }
      const lines = SETTINGS.map((row) => {
        const v = row.key.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown>)?.[p], config);
        return [row.env[0] ?? row.key, envText(row, redactValue(row.key, v)), sources[row.key]] as const;
      });
      const w0 = Math.max(...lines.map((l) => l[0].length));
      const w1 = Math.max(...lines.map((l) => l[1].length));
      if (envFile !== null) io.stdout(`# env file: ${envFile.path}\n`);
      for (const [k, v, s] of lines) io.stdout(`${k.padEnd(w0)} = ${v.padEnd(w1)}  # ${s}\n`);
    });
}
