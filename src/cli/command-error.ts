// A subcommand's own refusal or failure, with the exit code runCli returns after printing it as one line
// (submit: unknown task 64, unreachable broker 69; status: no pool 69, a refusing pool 1).
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
