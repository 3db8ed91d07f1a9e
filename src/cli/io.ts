// What a CLI command may touch: output streams and the environment. Tests pass their own.

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  env: process.env,
};

/** Exit codes (SPEC §2): 0 success, 1 refused or failed, 2 bad usage or invalid config. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;
