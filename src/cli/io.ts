// What a CLI command may touch: output streams and the environment. Tests pass their own.
import { outputClosed } from './closed-output.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /**
   * Whether human-readable output may use ANSI colours (stdout is a terminal and `NO_COLOR`
   * is not set). Optional so that an io without it (tests, scripts) gets plain text;
   * `NO_COLOR` in `env` turns colours off even when this is true.
   */
  color?: boolean;
  /** stdout is a terminal: `status --watch` redraws in place instead of appending frames. */
  tty?: boolean;
}

/** Colours only on a terminal, and never when `NO_COLOR` is set to anything but "" (https://no-color.org). */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

export const processIo: CliIo = {
  out: (text) => {
    if (!outputClosed()) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  },
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  env: process.env,
  color: colorEnabled(process.stdout, process.env),
  tty: process.stdout.isTTY === true,
};

/** True when this io wants colours: it says so and its environment does not forbid them. */
export function useColor(io: CliIo): boolean {
  return io.color === true && !io.env.NO_COLOR;
}

/** Exit codes (SPEC §2): 0 success, 1 refused or failed, 2 bad usage or invalid config. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;
