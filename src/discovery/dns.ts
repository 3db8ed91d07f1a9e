// DNS discovery's one query (SPEC §12): a name → the addresses that are targets, with the TTL
// that says when to ask again, or a typed failure the caller holds the last good set through.
// Pure I/O, no state and no timers beyond the query's deadline: discovery-state.ts decides.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { DEFAULT_TARGET_WEIGHT, MAX_TARGET_WEIGHT, MIN_TARGET_WEIGHT } from '../pool/target-admin.js';

export type DiscoveryType = 'A' | 'AAAA' | 'A+AAAA' | 'SRV';
export const DISCOVERY_TYPES: readonly DiscoveryType[] = ['A', 'AAAA', 'A+AAAA', 'SRV'];

/** One discovered target: `host` is an IP address (v6 unbracketed), `weight` in the target range 1..1000. */
export interface DiscoveredAddress {
  host: string;
  port: number;
  weight: number;
  /** The name whose record gave this address: the queried name, or an SRV record's target. */
  name: string;
}

export interface Resolved {
  /** Sorted by host then port, no duplicates (same host:port from two SRV records: weights added). */
  addresses: DiscoveredAddress[];
  /** The smallest TTL among the records used, in ms (0 allowed: the caller floors the delay). */
  ttlMs: number;
}

/**
 * Why a query gave no addresses. NXDOMAIN and EMPTY are answers (the server says there is
 * nothing); SERVFAIL (also: refused, connection refused, bad reply) and TIMEOUT are not.
 */
export type DnsErrorKind = 'NXDOMAIN' | 'EMPTY' | 'SERVFAIL' | 'TIMEOUT';

export interface DnsFailure {
  error: DnsErrorKind;
  /** node's code (`ENOTFOUND`, `ECONNREFUSED`, …) and message, for the log. */
  code: string;
  message: string;
}

export type DnsResult = Resolved | DnsFailure;

export function isFailure(result: DnsResult): result is DnsFailure {
  return 'error' in result;
}

export interface DnsQuery {
  name: string;
  type: DiscoveryType;
  /** The port of A/AAAA targets (SRV records carry their own). */
  port: number;
}

export interface DnsResolverOptions {
  /** `ip` or `ip:port` (`[v6]:port`); empty = the system's resolv.conf. */
  servers?: readonly string[];
  /** Deadline of one `resolve` call in ms, every lookup it makes included. Default 2000. */
  timeoutMs?: number;
}

/** Thrown inside `resolve` to carry a failure out of nested lookups. */
class Failure extends Error {
  constructor(readonly failure: DnsFailure) {
    super(failure.message);
  }
}

export class DnsResolver {
  private readonly servers: readonly string[];
  readonly timeoutMs: number;

  /** Throws TypeError for a server that is not an IP address (node's `setServers` rule). */
  constructor(options: DnsResolverOptions = {}) {
    this.servers = options.servers ?? [];
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.make(); // validate servers now, not at the first refresh
  }

  /** Resolves `query`; never throws: a failure is returned as `{ error, code, message }`. */
  async resolve(query: DnsQuery): Promise<DnsResult> {
    // A fresh Resolver per call: `cancel()` at the deadline then aborts only this call's lookups.
    const resolver = this.make();
    const timer = setTimeout(() => resolver.cancel(), this.timeoutMs);
    try {
      const result = await this.lookup(resolver, query);
      if (result.addresses.length === 0) return { error: 'EMPTY', code: 'EMPTY', message: `${query.name}: no ${query.type} records` };
      return result;
    } catch (error) {
      if (error instanceof Failure) return error.failure;
      return classify(error, query);
    } finally {
      clearTimeout(timer);
    }
  }

  private make(): Resolver {
    // c-ares tries each server once with this timeout (one try: the deadline, not retries, bounds us).
    const perTry = Math.max(100, Math.floor(this.timeoutMs / Math.max(1, this.servers.length)));
    const resolver = new Resolver({ timeout: perTry, tries: 1 });
    if (this.servers.length > 0) resolver.setServers([...this.servers]);
    return resolver;
  }

  private async lookup(resolver: Resolver, query: DnsQuery): Promise<Resolved> {
    if (query.type === 'SRV') return this.srv(resolver, query);
    const families = query.type === 'A+AAAA' ? (['A', 'AAAA'] as const) : ([query.type] as const);
    return merge(await Promise.all(families.map((family) => addresses(resolver, query.name, family, query.port, DEFAULT_TARGET_WEIGHT, families.length > 1))));
  }

  /**
   * SRV: only the lowest priority (RFC 2782's first choice; backups are left to a later issue),
   * each record's target resolved to A records — a target is an address, so no pooled socket
   * stays pinned to a name. Node's `resolveSrv` gives no TTL: `ttlMs` is the smallest TTL of
   * the targets' A records (refreshMs bounds the delay either way). A target name answered with
   * no address (NXDOMAIN, NODATA) is an answer: that record is skipped, the others serve (a stale
   * record must not empty the pool). A target name that gets no answer (SERVFAIL, timeout) fails
   * the whole query, so the last good set is held instead of shrinking on a transient fault.
   */
  private async srv(resolver: Resolver, query: DnsQuery): Promise<Resolved> {
    const records = await resolver.resolveSrv(query.name).catch((error) => { throw new Failure(classify(error, query)); });
    if (records.length === 0) return { addresses: [], ttlMs: 0 };
    const priority = Math.min(...records.map((record) => record.priority));
    const chosen = records.filter((record) => record.priority === priority);
    const scale = srvScale(chosen.map((record) => record.weight));
    const parts = await Promise.all(chosen.map((record) =>
      addresses(resolver, record.name, isIP(record.name) === 6 ? 'AAAA' : 'A', record.port, scale(record.weight), false).catch((error: unknown) => {
        if (error instanceof Failure && (error.failure.error === 'NXDOMAIN' || error.failure.error === 'EMPTY')) return NO_ADDRESSES;
        throw error;
      })));
    return merge(parts);
  }
}

/** One family's records of `name` as addresses; NODATA (`ENODATA`) is an empty list when `emptyOk`, else a failure. */
async function addresses(resolver: Resolver, name: string, family: 'A' | 'AAAA', port: number, weight: number, emptyOk: boolean): Promise<Resolved> {
  if (isIP(name) !== 0) return { addresses: [{ host: name, port, weight, name }], ttlMs: Number.MAX_SAFE_INTEGER };
  try {
    const records = family === 'A' ? await resolver.resolve4(name, { ttl: true }) : await resolver.resolve6(name, { ttl: true });
    return { addresses: records.map((record) => ({ host: record.address, port, weight, name })), ttlMs: minTtlMs(records) };
  } catch (error) {
    // With A+AAAA, a name with only one family answers NODATA for the other: normal.
    if (emptyOk && (error as NodeJS.ErrnoException).code === 'ENODATA') return NO_ADDRESSES;
    throw new Failure(classify(error, { name, type: family, port }));
  }
}

/** A part with nothing in it; its TTL never lowers the merged one. */
const NO_ADDRESSES: Resolved = { addresses: [], ttlMs: Number.MAX_SAFE_INTEGER };

/**
 * The smallest TTL (ms) among records that carry one. c-ares leaves `ttl` out past the 256th
 * address of a large (TCP) answer; those count for nothing (no TTL at all: refreshMs decides).
 */
export function minTtlMs(records: ReadonlyArray<{ ttl?: number }>): number {
  let min = Number.MAX_SAFE_INTEGER;
  for (const record of records) {
    if (typeof record.ttl === 'number' && Number.isFinite(record.ttl)) min = Math.min(min, record.ttl * 1000);
  }
  return min;
}

function merge(parts: readonly Resolved[]): Resolved {
  const byId = new Map<string, DiscoveredAddress>();
  for (const address of parts.flatMap((part) => part.addresses)) {
    const id = `${address.host}|${address.port}`;
    const seen = byId.get(id);
    byId.set(id, seen === undefined ? { ...address } : { ...seen, weight: Math.min(MAX_TARGET_WEIGHT, seen.weight + address.weight) });
  }
  const addresses = [...byId.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port));
  const ttlMs = Math.min(...parts.map((part) => part.ttlMs));
  return { addresses, ttlMs: addresses.length === 0 || !Number.isFinite(ttlMs) ? 0 : Math.min(ttlMs, Number.MAX_SAFE_INTEGER) };
}

/**
 * SRV weights are 0..65535, target weights 1..1000 and relative: kept as they are (3:1 stays
 * 3:1) unless the largest exceeds 1000, then scaled down; 0 ("rarely") becomes the minimum 1.
 */
export function srvScale(weights: readonly number[]): (weight: number) => number {
  const max = Math.max(0, ...weights);
  const factor = max > MAX_TARGET_WEIGHT ? MAX_TARGET_WEIGHT / max : 1;
  return (weight) => Math.max(MIN_TARGET_WEIGHT, Math.round(weight * factor));
}

/** node's dns error codes → the kinds SPEC §12 names. */
export function classify(error: unknown, query: DnsQuery): DnsFailure {
  const code = (error as NodeJS.ErrnoException)?.code ?? 'UNKNOWN';
  const message = `${query.name} ${query.type}: ${(error as Error)?.message ?? String(error)}`;
  switch (code) {
    case 'ENOTFOUND': return { error: 'NXDOMAIN', code, message };
    case 'ENODATA': return { error: 'EMPTY', code, message };
    // ECANCELLED: our own deadline cancelled the lookups.
    case 'ETIMEOUT': case 'ECANCELLED': return { error: 'TIMEOUT', code, message };
    // ESERVFAIL, EREFUSED, ECONNREFUSED, EBADRESP, …: the server gave no usable answer.
    default: return { error: 'SERVFAIL', code, message };
  }
}

/** The target URL of a discovered address: `http://10.0.0.1:8000`, `http://[::1]:8000`. */
export function addressUrl(scheme: 'http' | 'https', address: Pick<DiscoveredAddress, 'host' | 'port'>): string {
  const host = isIP(address.host) === 6 ? `[${address.host}]` : address.host;
  return `${scheme}://${host}:${address.port}`;
}
