// Entry of the task-backend-worker binary (bin/task-backend-worker imports the built copy of this file).
import { currentHost } from '../config/load.js';
import { runCli } from './run.js';
import { hideSecretArgs, redactArgv } from './secret-args.js';

// A password given as a flag: masked in what ps shows from now on (the pool warns about it when it starts).
const secrets = redactArgv(process.argv.slice(2));
if (secrets.flags.length > 0) hideSecretArgs(process, secrets.argv);
const code = await runCli(process.argv.slice(2), {
  env: process.env,
  host: currentHost(process.env),
  stdout: (text) => {
    process.stdout.write(text);
  },
  stderr: (text) => {
    process.stderr.write(text);
  },
});
// A subcommand may have set process.exitCode itself; a non-zero code from the CLI wins.
if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
// The last log lines may still be queued for a slow reader (a pipe to pm2 or the journal): wait for them, bounded,
// because a reader that never reads again must not keep a stopped worker alive.
const DRAIN_BOUND_MS = 10_000;
if (process.stdout.writableLength > 0) {
  await new Promise<void>((resolve) => {
    const bound = setTimeout(resolve, DRAIN_BOUND_MS);
    process.stdout.once('drain', () => {
      clearTimeout(bound);
      resolve();
    });
  });
}
// A handle left open by a user task module must not keep the process alive.
setTimeout(() => process.exit(), 500).unref();
