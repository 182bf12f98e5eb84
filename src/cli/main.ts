// Entry of the task-backend-worker binary (bin/task-backend-worker imports the built copy of this file).
import { currentHost } from '../config/load.js';
import { runCli } from './run.js';

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  host: currentHost(process.env),
  stdout: (text) => { process.stdout.write(text); },
  stderr: (text) => { process.stderr.write(text); },
});
// A subcommand may have set process.exitCode itself; a non-zero code from the CLI wins.
if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
// Let pending writes drain naturally; a handle left open by a user task module must not keep the process alive.
setTimeout(() => process.exit(), 500).unref();
