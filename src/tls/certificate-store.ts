// The edge listener's certificates (SPEC §13): one SecureContext per configured pair, chosen
// per handshake by SNI, and replaced while the proxy runs — on a file change (watchFiles) or
// on SIGHUP / POST /reload (a config reload: `configure`). A replacement is all or
// nothing: a pair that fails to load (missing, garbled, key not matching, expired) is refused
// with a log line and an event, and the pair in use stays. New handshakes see a new pair as
// soon as it is adopted; open connections keep the context they were made with.
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { CertificatePairConfig, TlsConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { watchFiles, type FileWatch } from './file-watch.js';
import { loadPair, type LoadedPair, type PemProblem } from './pem.js';
import { SniTable } from './sni.js';

export type MinVersion = TlsConfig['minVersion'];

/** One pair as `GET /certificates` shows it. */
export interface CertificateView {
  names: string[];
  notAfter: string;
  serial: string;
  file: string;
  loadedAt: string;
}

export interface CertificateEvent {
  kind: 'rotated' | 'refused';
  /** Human text for the event list: which pair, what changed or why it was refused. */
  reason: string;
}

export interface CertificateStoreOptions {
  certificates: readonly CertificatePairConfig[];
  minVersion: MinVersion;
  logger: Logger;
  /** A pair replaced or refused (main records it in the state store's event list). */
  onEvent?(event: CertificateEvent): void;
  /**
   * The default (first) pair changed: a client without SNI gets the listener's own context,
   * which the listener must replace (`tls.Server#setSecureContext`).
   */
  onDefaultChange?(options: SecureContextOptions): void;
  /** How often the files are polled (file-watch.ts); tests shorten it. */
  watchIntervalMs?: number;
  /**
   * How a pair is read (default: from its files). A worker (SPEC §15) reads the bytes its primary
   * loaded and validated instead, so every process serves the same pair whatever the files hold now.
   */
  read?: typeof loadPair;
  now?: () => number;
}

/** What one re-read did to a pair. */
type RefreshOutcome = 'loaded' | 'unchanged' | 'refused';

/**
 * A file change caught mid-rotation (the certificate written, its key not yet) fails to load;
 * the watcher's own failures are retried once after this long before they count as a refusal.
 */
const REFUSE_AFTER_MS = 1000;

interface Slot {
  config: CertificatePairConfig;
  pair: LoadedPair;
  context: SecureContext;
  loadedAt: Date;
  /** A watched change that failed to load, waiting for its one retry. */
  retry: NodeJS.Timeout | null;
}

export class CertificateStore {
  private slots: Slot[];
  private table: SniTable<Slot>;
  private minVersion: MinVersion;
  private watch: FileWatch | null = null;
  private readonly options: CertificateStoreOptions;
  private readonly now: () => number;
  private readonly read: typeof loadPair;

  /** Loads every pair; throws ConfigError (with key paths) when one does not load. */
  constructor(options: CertificateStoreOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.read = options.read ?? loadPair;
    this.minVersion = options.minVersion;
    const problems: string[] = [];
    const slots: Slot[] = [];
    options.certificates.forEach((config, index) => {
      const result = this.read(config.cert, config.key, this.now());
      if (result.ok) slots.push(this.slotOf(config, result.pair));
      else problems.push(...result.problems.map((problem) => `tls.certificates[${index}].${problem.file}: ${problem.message}`));
    });
    if (problems.length > 0 || slots.length === 0) throw new ConfigError(problems.length > 0 ? problems : ['tls.certificates: no certificate pair']);
    this.slots = slots;
    this.table = tableOf(slots);
  }

  /**
   * The SNICallback: a context for every name — the pair naming it exactly, else one whose
   * wildcard covers it, else the default. Never throws and never fails the handshake itself:
   * whatever a client sends as its server name is only a key to look up.
   */
  readonly sniCallback = (servername: string, callback: (error: Error | null, context?: SecureContext) => void): void => {
    let slot: Slot;
    try {
      slot = this.table.lookup(servername) ?? this.slots[0]!;
    } catch {
      slot = this.slots[0]!;
    }
    callback(null, slot.context);
  };

  /** The listener's own context options: the default pair, for clients that send no SNI. */
  defaultOptions(): SecureContextOptions {
    return contextOptions(this.slots[0]!.pair, this.minVersion);
  }

  /** Starts watching the files (in place, rename, symlink swap). */
  start(): void {
    this.watch?.stop();
    const paths = this.slots.flatMap((slot) => [slot.config.cert, slot.config.key]);
    this.watch = watchFiles(paths, (changed) => this.filesChanged(changed), this.options.watchIntervalMs);
  }

  stop(): void {
    this.watch?.stop();
    this.watch = null;
    for (const slot of this.slots) this.cancelRetry(slot);
  }

  /**
   * A config reload (SIGHUP, POST /reload) with its `tls.certificates` and `minVersion`: every
   * pair kept by path is re-read at once (a failure refused at once, no retry), new ones loaded,
   * dropped ones forgotten. A new pair that does not load is left out (the
   * config check refuses such a file first; this is the race where it changed since); if none
   * of the new list loads, the running list stays.
   */
  configure(certificates: readonly CertificatePairConfig[], minVersion: MinVersion): void {
    const versionChanged = minVersion !== this.minVersion;
    this.minVersion = minVersion;
    const next: Slot[] = [];
    certificates.forEach((config, index) => {
      const kept = this.slots.find((slot) => slot.config.cert === config.cert && slot.config.key === config.key);
      if (kept !== undefined) {
        this.refresh(kept, true, index);
        if (versionChanged) kept.context = createSecureContext(contextOptions(kept.pair, minVersion));
        return void next.push(kept);
      }
      const result = this.read(config.cert, config.key, this.now());
      if (result.ok) next.push(this.slotOf(config, result.pair));
      else this.refused(config, index, result.problems);
    });
    if (next.length === 0) return;
    const defaultChanged = next[0] !== this.slots[0] || versionChanged;
    for (const slot of this.slots) if (!next.includes(slot)) this.cancelRetry(slot);
    this.slots = next;
    this.table = tableOf(next);
    if (defaultChanged) this.options.onDefaultChange?.(this.defaultOptions());
    if (this.watch !== null) this.start();
  }

  /** The loaded pairs' bytes by file path (what workers are given, SPEC §15). */
  pems(): Record<string, Buffer> {
    const out: Record<string, Buffer> = {};
    for (const { pair } of this.slots) {
      out[pair.certFile] = pair.cert;
      out[pair.keyFile] = pair.key;
    }
    return out;
  }

  /** `GET /certificates`, in config order (the first is the default). */
  list(): CertificateView[] {
    return this.slots.map(({ pair, loadedAt }) => ({
      names: [...pair.names], notAfter: pair.notAfter.toISOString(), serial: pair.serial, file: pair.certFile, loadedAt: loadedAt.toISOString(),
    }));
  }

  /** Each pair's SAN names and expiry, for `switchyard_certificate_expiry_seconds`. */
  expiries(): Array<{ names: readonly string[]; notAfter: Date }> {
    return this.slots.map(({ pair }) => ({ names: pair.names, notAfter: pair.notAfter }));
  }

  private filesChanged(changed: readonly string[]): void {
    for (const slot of this.slots) {
      if (changed.includes(slot.config.cert) || changed.includes(slot.config.key)) this.refresh(slot, false);
    }
  }

  /**
   * Re-reads one pair and adopts it when its certificate or key changed. `final` false (a
   * watched change): a failure is retried once after REFUSE_AFTER_MS before it is refused.
   */
  private refresh(slot: Slot, final: boolean, index = this.slots.indexOf(slot)): RefreshOutcome {
    const result = this.read(slot.config.cert, slot.config.key, this.now());
    if (!result.ok) {
      if (final) {
        this.cancelRetry(slot);
        this.refused(slot.config, index, result.problems);
      } else {
        slot.retry ??= setTimeout(() => {
          slot.retry = null;
          if (this.slots.includes(slot)) this.refresh(slot, true);
        }, REFUSE_AFTER_MS).unref();
      }
      return 'refused';
    }
    this.cancelRetry(slot);
    const { pair } = result;
    if (pair.fingerprint256 === slot.pair.fingerprint256 && pair.key.equals(slot.pair.key)) return 'unchanged';
    let context: SecureContext;
    try {
      context = createSecureContext(contextOptions(pair, this.minVersion));
    } catch (error) {
      this.refused(slot.config, index, [{ file: 'cert', message: `OpenSSL refused the pair: ${(error as Error).message}` }]);
      return 'refused';
    }
    const before = slot.pair;
    slot.pair = pair;
    slot.context = context;
    slot.loadedAt = new Date(this.now());
    this.table = tableOf(this.slots);
    if (index === 0) this.options.onDefaultChange?.(this.defaultOptions());
    const fields = { kind: 'tls', certificate: `tls.certificates[${index}]`, file: pair.certFile, names: pair.names,
      serial: pair.serial, previousSerial: before.serial, notAfter: pair.notAfter.toISOString() };
    this.options.logger.info(fields, 'certificate pair loaded; new handshakes use it');
    this.options.onEvent?.({ kind: 'rotated', reason: `tls.certificates[${index}] ${pair.names.join(', ')}: serial ${before.serial} → ${pair.serial}` });
    return 'loaded';
  }

  private refused(config: CertificatePairConfig, index: number, problems: readonly PemProblem[]): void {
    const messages = problems.map((problem) => `tls.certificates[${index}].${problem.file}: ${problem.message}`);
    this.options.logger.error({ kind: 'tls', certificate: `tls.certificates[${index}]`, cert: config.cert, key: config.key, problems: messages },
      'certificate pair refused; the pair in use stays');
    this.options.onEvent?.({ kind: 'refused', reason: messages.join('; ') });
  }

  private cancelRetry(slot: Slot): void {
    if (slot.retry !== null) clearTimeout(slot.retry);
    slot.retry = null;
  }

  private slotOf(config: CertificatePairConfig, pair: LoadedPair): Slot {
    return { config, pair, context: createSecureContext(contextOptions(pair, this.minVersion)), loadedAt: new Date(this.now()), retry: null };
  }
}

function contextOptions(pair: LoadedPair, minVersion: MinVersion): SecureContextOptions {
  return { cert: pair.cert, key: pair.key, minVersion };
}

function tableOf(slots: readonly Slot[]): SniTable<Slot> {
  return new SniTable(slots.map((slot) => ({ names: slot.pair.names, value: slot })));
}
