// Every error the admin API can answer with: one code, one HTTP status, one default message.
// Clients (the CLI, users' scripts) match on `code`, so codes never change once published.

export const ERRORS = {
  INVALID_BODY: { status: 400, message: 'the request body is not valid' },
  UNKNOWN_POOL: { status: 400, message: 'no such pool' },
  INVALID_WEIGHTS: { status: 400, message: 'weights must be integers from 0 to 100 summing to 100' },
  INVALID_CONFIG: { status: 400, message: 'the config file is not valid' },
  UNAUTHORIZED: { status: 401, message: 'a valid bearer token is required' },
  NOT_FOUND: { status: 404, message: 'no such route' },
  UNKNOWN_TARGET: { status: 404, message: 'no such target in that pool' },
  INVALID_TARGET: { status: 400, message: 'a target is an http(s) origin (scheme, host, port; no path, query or credentials)' },
  DUPLICATE_TARGET: { status: 409, message: 'the pool already has a target with that id' },
  LAST_TARGET: { status: 409, message: 'the change would leave a pool that has weight without a ready target' },
  POOL_UNHEALTHY: { status: 409, message: 'the pool has no healthy target' },
  NO_PREVIOUS: { status: 409, message: 'there is no previous routing to roll back to' },
  ROLLOUT_RUNNING: { status: 409, message: 'a rollout is running' },
  NO_ROLLOUT: { status: 409, message: 'no rollout is running' },
  POOL_ALREADY_ACTIVE: { status: 409, message: 'the pool already has all the traffic; a rollout has nothing to do' },
  REVISION_MISMATCH: { status: 412, message: 'the routing state has changed since that revision' },
  STATE_UNAVAILABLE: { status: 503, message: 'the state store is unavailable' },
  /** SPEC §15: committed, but not every worker applied it in time (a 200 promises the next request follows on every worker). */
  NOT_PROPAGATED: { status: 503, message: 'the change is committed but not every worker applied it in time' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;

  /**
   * `status` overrides the code's usual one where the resource in the URL path is what is
   * missing (an unknown pool in `/pools/:pool/targets` is a 404, the same code in a body a 400).
   */
  constructor(code: ErrorCode, message?: string, details?: unknown, status?: number) {
    super(message ?? ERRORS[code].message);
    this.name = 'SwitchyardError';
    this.code = code;
    this.status = status ?? ERRORS[code].status;
    this.details = details;
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    const error: { code: ErrorCode; message: string; details?: unknown } = { code: this.code, message: this.message };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

/** A config that failed to load or validate; `problems` are `key.path: what is wrong` lines. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`invalid config:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
