// The programmatic API, `import { startSwitchyard } from 'switchyard-proxy'`: start a
// Switchyard from a config object or file and close it, e.g. in users' own integration tests.
// Everything here is what `switchyard start` does, with the same validation.
import { loadConfigFile, resolveConfig } from './config/load.js';
import type { Config, HealthCheckConfig, RawConfig } from './config/schema.js';
import { Switchyard, type ReloadSummary } from './main.js';

export { loadConfigFile, resolveConfig } from './config/load.js';
export { ConfigError, SwitchyardError, ERRORS, type ErrorCode } from './errors.js';
export { DEFAULT_LIMITS } from './config/schema.js';
export type { Config, HealthCheckConfig, LimitsConfig, PoolConfig, RawConfig } from './config/schema.js';
export type { ReloadSummary } from './main.js';

/** A string with a `${VAR}` or `${VAR:-default}` reference, expanded like in a file. */
export type EnvReference = `${string}\${${string}}${string}`;

/** A config value as written: optional wherever the file may leave it out; numbers and booleans may be `${VAR}`. */
type Written<T> = T extends number | boolean ? T | EnvReference
  : T extends readonly (infer Item)[] ? Array<Written<Item>>
  : T extends object ? { [K in keyof T]?: Written<T[K]> }
  : T;

/** One pool as written: `targets` (origins like `http://10.0.0.5:3000`) is required. */
export interface PoolInput {
  version?: string;
  targets: string[];
  healthCheck?: Written<HealthCheckConfig>;
}

/**
 * A config object: the config file's keys (README "Configuration reference"), every one
 * optional but `pools`. Validated exactly like a file: defaults applied, `${VAR}` expanded.
 */
export type SwitchyardConfigInput = Written<Omit<RawConfig, 'pools'>> & { pools: Record<string, PoolInput> };

export interface StartOptions {
  /** Where `${VAR}` references are looked up; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
  /** Where the JSON log lines go (anything with `write(line)`); stdout by default. `log.level: silent` turns them off. */
  logDestination?: { write(line: string): void };
}

export interface RunningSwitchyard {
  /** The proxy listener, e.g. `http://127.0.0.1:38211` (port 0 in the config picks a free one). */
  readonly proxyUrl: string;
  /** The admin API (flip, weights, rollout, status); token-protected when `admin.token` is set. */
  readonly adminUrl: string;
  /** The preview listener when `preview` is configured, else null. */
  readonly previewUrl: string | null;
  /** The HTTPS listener (`https://…`) when `tls` is configured, else null. */
  readonly tlsUrl: string | null;
  /** The running config, every default resolved (pools as a list, in order). */
  readonly config: Config;
  /** Re-reads the config file (only when started from a path; else rejects with ConfigError). */
  reload(): Promise<ReloadSummary>;
  /** Stops accepting, lets in-flight requests finish (up to `shutdown.graceMs`), closes everything. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a Switchyard: proxy, admin API, health checks, state store. Resolves once one
 * round of health checks is done and the listeners accept connections.
 *
 * @param config a config object (see SwitchyardConfigInput) or the path of a YAML config file.
 * @throws ConfigError (rejects) with every problem as `key.path: what is wrong`, in key
 *   order, before anything listens; a listen error (e.g. EADDRINUSE) after closing what started.
 */
export async function startSwitchyard(config: SwitchyardConfigInput | string, options: StartOptions = {}): Promise<RunningSwitchyard> {
  const env = options.env ?? process.env;
  const resolved = typeof config === 'string' ? loadConfigFile(config, env) : resolveConfig(config, env);
  const switchyard = await Switchyard.start(resolved, {
    ...(typeof config === 'string' ? { configPath: config } : {}),
    ...(options.logDestination === undefined ? {} : { logDestination: options.logDestination }),
  });
  return {
    proxyUrl: switchyard.proxyUrl,
    adminUrl: switchyard.adminUrl,
    previewUrl: switchyard.previewUrl,
    tlsUrl: switchyard.tlsUrl,
    get config() { return switchyard.config; },
    reload: () => switchyard.reload(),
    close: () => switchyard.close(),
  };
}
