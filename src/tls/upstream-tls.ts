// TLS to a pool's https targets (SPEC §13 `pools.NAME.tls`): the options every new upstream
// connection and health check of the pool uses, re-read when the files change (watched) and
// on reload. The options are an immutable snapshot swapped whole, so a connection being made
// reads one consistent set, and kept-alive connections made with the old files simply finish.
// A rotation that fails to load (a half-written pair, a key of another certificate) is refused
// with a log line and the previous snapshot stays.
import { createSecureContext, type SecureContext } from 'node:tls';
import type { PoolTlsConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import { watchFiles, type FileWatch } from './file-watch.js';
import { loadCa, loadPair } from './pem.js';

/** What a new connection to a target is made with. Never mutated: a change is a new object. */
export interface UpstreamTlsOptions {
  /** CA bundle (PEM); undefined: Node's bundled roots (plus NODE_EXTRA_CA_CERTS). */
  readonly ca: Buffer | undefined;
  /** Client certificate and key for mTLS; undefined: none offered. */
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  /** `verify`: false accepts any certificate (testing only). */
  readonly rejectUnauthorized: boolean;
  /** Built once per snapshot from ca/cert/key: a handshake does not re-parse the PEM. */
  readonly secureContext: SecureContext | undefined;
  /** Client certificate serial (hex), for logs; null without one. */
  readonly clientSerial: string | null;
}

/** Read by the connector at each new connection, and by the health probe. */
export interface UpstreamTlsSource {
  readonly current: UpstreamTlsOptions;
}

/** A pool without a `tls` block: Node's defaults (system roots, verify, no client certificate). */
export const DEFAULT_UPSTREAM_TLS: UpstreamTlsOptions = Object.freeze({
  ca: undefined, cert: undefined, key: undefined, rejectUnauthorized: true, secureContext: undefined, clientSerial: null,
});

type Loaded = { ok: true; options: UpstreamTlsOptions } | { ok: false; problems: string[]; partial: UpstreamTlsOptions };

/**
 * Reads the files of `config`. On failure `partial` keeps what did load and drops what did not
 * (no CA: the default roots, still verifying; no pair: no client certificate): never less strict.
 */
export function loadUpstreamTls(config: PoolTlsConfig | undefined, now = Date.now()): Loaded {
  if (config === undefined) return { ok: true, options: DEFAULT_UPSTREAM_TLS };
  const problems: string[] = [];
  let ca: Buffer | undefined;
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  let clientSerial: string | null = null;
  if (config.ca !== undefined) {
    const loaded = loadCa(config.ca);
    if (loaded.ok) ca = loaded.bytes;
    else problems.push(`ca: ${loaded.message}`);
  }
  if (config.cert !== undefined && config.key !== undefined) {
    const loaded = loadPair(config.cert, config.key, now);
    if (loaded.ok) {
      cert = loaded.pair.cert;
      key = loaded.pair.key;
      clientSerial = loaded.pair.serial;
    } else problems.push(...loaded.problems.map((problem) => `${problem.file}: ${problem.message}`));
  }
  let secureContext: SecureContext | undefined;
  try {
    secureContext = ca === undefined && cert === undefined ? undefined : createSecureContext({ ca, cert, key });
  } catch (error) {
    // A bundle whose first certificate parses but a later one does not, say.
    problems.push((error as Error).message);
    secureContext = undefined;
    ca = cert = key = undefined;
    clientSerial = null;
  }
  const options: UpstreamTlsOptions = Object.freeze({ ca, cert, key, rejectUnauthorized: config.verify, secureContext, clientSerial });
  return problems.length === 0 ? { ok: true, options } : { ok: false, problems, partial: options };
}

/** Same files, same bytes, same `verify`: no new snapshot (kept connections' sessions stay resumable). */
function sameOptions(a: UpstreamTlsOptions, b: UpstreamTlsOptions): boolean {
  return a.rejectUnauthorized === b.rejectUnauthorized && sameBytes(a.ca, b.ca) && sameBytes(a.cert, b.cert) && sameBytes(a.key, b.key);
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

function filesOf(config: PoolTlsConfig | undefined): string[] {
  return config === undefined ? [] : [config.ca, config.cert, config.key].filter((path): path is string => path !== undefined);
}

/** One pool's upstream TLS: the current snapshot, its files watched. */
export class UpstreamTls implements UpstreamTlsSource {
  current: UpstreamTlsOptions = DEFAULT_UPSTREAM_TLS;
  private config: PoolTlsConfig | undefined;
  private watch: FileWatch | null = null;
  private watched = '';

  constructor(readonly pool: string, config: PoolTlsConfig | undefined, private readonly logger: Logger, private readonly intervalMs = 500) {
    this.config = config;
    this.load('start');
    this.rewatch();
  }

  /** A reload: the (maybe changed) block, its files read again. */
  configure(config: PoolTlsConfig | undefined): void {
    this.config = config;
    this.load('reload');
    this.rewatch();
  }

  stop(): void {
    this.watch?.stop();
    this.watch = null;
    this.watched = '';
  }

  private rewatch(): void {
    const files = filesOf(this.config);
    const key = files.join('\n');
    if (key === this.watched && this.watch !== null) return;
    this.stop();
    if (files.length === 0) return;
    this.watched = key;
    this.watch = watchFiles(files, (changed) => this.load('file change', changed), this.intervalMs);
  }

  private load(why: 'start' | 'reload' | 'file change', changed?: string[]): void {
    const loaded = loadUpstreamTls(this.config);
    const fields = { kind: 'tls', pool: this.pool, why, ...(changed === undefined ? {} : { files: changed }) };
    if (!loaded.ok) {
      if (why === 'start') {
        // The config check read these files moments ago; one went missing since. Use what loaded.
        this.current = loaded.partial;
        this.logger.error({ ...fields, problems: loaded.problems }, 'upstream TLS files did not load: connections go without them');
      } else {
        this.logger.warn({ ...fields, problems: loaded.problems }, 'upstream TLS files refused: the previous ones stay');
      }
      return;
    }
    if (sameOptions(loaded.options, this.current)) return;
    this.current = loaded.options;
    if (why !== 'start') {
      this.logger.info({ ...fields, clientSerial: loaded.options.clientSerial }, 'upstream TLS files loaded: new connections use them');
    }
  }
}
