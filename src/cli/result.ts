// A command is an async function resolving to an exit code; errors it throws are mapped
// to exit codes in one place (cli/program.ts).

export type CommandResult = () => Promise<number>;

/** Bad arguments that the parser itself could not catch: exit 2. */
export class UsageError extends Error {}

/** A failure the command has already explained on stderr: exit 1 without another line. */
export class ReportedError extends Error {}
