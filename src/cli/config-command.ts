// `task-backend-worker config [--json]`: the settings the worker would run with, where each value came from,
// secrets redacted. The first thing to run when a worker does not behave as configured.
import type { Command } from 'commander';
import { redactValue } from '../config/redact.js';
import { SETTINGS } from '../config/settings.js';
import { commandIo, resolveCommand } from './program.js';
import { redact } from '../config/redact.js';

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
        const v = row.key.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], config);
        return [row.key, JSON.stringify(redactValue(row.key, v)), sources[row.key]] as const;
      });
      const w0 = Math.max(...lines.map((l) => l[0].length));
      const w1 = Math.max(...lines.map((l) => l[1].length));
      if (envFile !== null) io.stdout(`# env file: ${envFile.path}\n`);
      for (const [k, v, s] of lines) io.stdout(`${k.padEnd(w0)} = ${v.padEnd(w1)}  # ${s}\n`);
    });
}
