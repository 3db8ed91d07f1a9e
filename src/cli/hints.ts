// One line of advice after a refusal, in the CLI's own terms (flags and environment variables
// rather than the API's body fields). Pure: the refusal and the command in, text out.
import type { RefusedError } from './admin-client.js';

/** Commands that take --force (SPEC §2, §11). */
const FORCE_COMMANDS = new Set(['flip', 'weights', 'rollback', 'target drain', 'target maint', 'target remove']);
/** Refusals that `force` overrides. */
const FORCE_CODES = new Set(['POOL_UNHEALTHY', 'LAST_TARGET']);

/** The server's message with API wording put in CLI terms: `force` is `--force` here. */
export function cliMessage(err: RefusedError, command: string | null): string {
  if (FORCE_CODES.has(err.code) && command !== null && FORCE_COMMANDS.has(command)) {
    return err.message.replace(/\(use force to override\)/, '(use --force to override)');
  }
  return err.message;
}

/** A hint line for a refusal, or null when there is nothing to add. */
export function hintFor(err: RefusedError, command: string | null, tokenGiven: boolean): string | null {
  if (err.status === 401) {
    return tokenGiven
      ? 'hint: the token was refused; check --token or SWITCHYARD_ADMIN_TOKEN against the server\'s admin.token'
      : 'hint: this admin API needs a token: pass --token TOKEN or set SWITCHYARD_ADMIN_TOKEN';
  }
  if (err.code === 'POOL_UNHEALTHY' && command !== null && FORCE_COMMANDS.has(command) && !/--force/.test(cliMessage(err, command))) {
    return `hint: switchyard ${command} … --force gives it traffic anyway`;
  }
  if (err.code === 'LAST_TARGET') {
    // The server's message names `force`; what it does not say is how to avoid needing it.
    const force = command !== null && FORCE_COMMANDS.has(command) && !/--force/.test(cliMessage(err, command)) ? `; switchyard ${command} … --force takes it out anyway` : '';
    return `hint: move the pool's traffic first (switchyard flip / weights) or add a target (switchyard target add)${force}`;
  }
  if (err.code === 'UNKNOWN_TARGET') return 'hint: `switchyard targets POOL` lists the pool\'s target ids (host:port)';
  if (err.code === 'DUPLICATE_TARGET') return 'hint: `switchyard targets POOL` shows it; `switchyard target ready|weight` changes it';
  if (err.code === 'POOL_ALREADY_ACTIVE') return 'hint: nothing to roll out; `switchyard status` shows the weights';
  if (err.code === 'ROLLOUT_RUNNING') return 'hint: `switchyard rollout status` shows it; `switchyard rollout abort` or `promote` ends it';
  return null;
}

/**
 * For a listener that could not bind (EADDRINUSE): a hint naming the setting to change.
 * `settings` maps each port the command listens on to its flag or config key; null for
 * any other error.
 */
export function portInUseHint(err: unknown, settings: ReadonlyArray<{ port: number; setting: string }>): string | null {
  const error = err as { code?: unknown; port?: unknown; message?: unknown } | null;
  if (error?.code !== 'EADDRINUSE') return null;
  const port = typeof error.port === 'number' ? error.port : Number(/:(\d+)\s*$/.exec(String(error.message))?.[1]);
  const matches = settings.filter((setting) => setting.port === port).map((setting) => setting.setting);
  const change = matches.length > 0 ? matches.join(' or ') : settings.map((setting) => setting.setting).join(' or ');
  return `hint: port ${port} is taken (another Switchyard, or another program): choose another with ${change}`;
}
