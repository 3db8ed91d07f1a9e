// What a pool's discovered targets become after one DNS answer (SPEC §12). Pure: the caller
// passes the time and the random source, runs the query, applies `state.addresses` to the
// target set, logs when `warn` is set and schedules the next query after `delayMs`.
//
// The rules, and why:
// - A non-empty answer is the truth: it replaces the set (TargetSet drains what left).
// - NXDOMAIN, SERVFAIL, TIMEOUT and EMPTY keep the last good set, `stale: true`, until `holdMs`
//   has passed since the last good answer — a DNS blip must not empty a pool (envoy#2691).
// - After `holdMs`, an *answer* that there is nothing (EMPTY, NXDOMAIN) is honoured: the set
//   empties and the pool answers 503, as documented. A *non-answer* (SERVFAIL, TIMEOUT) is
//   never honoured: it says nothing about the service, the last good set stays (stale) and
//   health checks remain the judge of those targets (haproxy#345: a DNS outage put servers in
//   MAINT). Before the first good answer there is nothing to hold: the set is empty.
import type { DiscoveredAddress, DnsErrorKind, DnsResult } from './dns.js';
import { isFailure } from './dns.js';

export interface DiscoveryState {
  /** The addresses that should be targets now (the last good set while stale). */
  addresses: DiscoveredAddress[];
  /** True while `addresses` is a held last good set, not the latest answer. */
  stale: boolean;
  /** Epoch ms of the last non-empty answer; null before the first. */
  lastGoodAt: number | null;
  /** Epoch ms of the last query, whatever it gave. */
  resolvedAt: number | null;
  /** TTL of the last good answer, ms (for status). */
  ttlMs: number | null;
  /** The last query's failure; null after a good answer. */
  lastError: DnsErrorKind | null;
}

export const INITIAL_DISCOVERY_STATE: DiscoveryState = {
  addresses: [], stale: false, lastGoodAt: null, resolvedAt: null, ttlMs: null, lastError: null,
};

export interface DiscoveryTiming {
  now: number;
  /** Upper bound of the delay between queries, ms (`discover.refreshMs`). */
  refreshMs: number;
  /** How long the last good set outlives failures, ms (`discover.holdMs`). */
  holdMs: number;
  /** Delay floor, ms: a TTL of 0 (dnsmasq's default) must not spin. Default 1000. */
  minDelayMs?: number;
  /** Delay after a failure, ms, before jitter (capped by refreshMs). Default 5000. */
  retryMs?: number;
  /** [0, 1), e.g. Math.random: the jitter source. */
  random: () => number;
}

export interface DiscoveryStep {
  state: DiscoveryState;
  /** When to query again, ms: min(TTL, refreshMs) after an answer, min(retryMs, refreshMs, hold left) after a failure; ≥ minDelayMs; plus up to 10% jitter. */
  delayMs: number;
  /** Log a warning: a failure started or changed kind, or the hold ran out. Every failure counts in the metric regardless. */
  warn: boolean;
  /** Target ids (`host:port`) that entered and left `addresses` in this step. */
  added: string[];
  removed: string[];
}

/** The next state after `result` (see the rules at the top of this file). */
export function nextDiscoveryState(previous: DiscoveryState, result: DnsResult, timing: DiscoveryTiming): DiscoveryStep {
  const minDelay = timing.minDelayMs ?? 1000;
  const jitter = (ms: number) => {
    const base = Math.max(minDelay, ms);
    return base + Math.floor(timing.random() * 0.1 * base);
  };

  if (!isFailure(result)) {
    const state: DiscoveryState = {
      addresses: result.addresses, stale: false, lastGoodAt: timing.now, resolvedAt: timing.now, ttlMs: result.ttlMs, lastError: null,
    };
    return { state, delayMs: jitter(Math.min(result.ttlMs, timing.refreshMs)), warn: false, ...diff(previous.addresses, state.addresses) };
  }

  const kind = result.error;
  const heldFor = previous.lastGoodAt === null ? Infinity : timing.now - previous.lastGoodAt;
  const holdLeft = timing.holdMs - heldFor;
  const answer = kind === 'EMPTY' || kind === 'NXDOMAIN';
  const hold = previous.addresses.length > 0 && (holdLeft > 0 || !answer);
  const state: DiscoveryState = {
    ...previous, addresses: hold ? previous.addresses : [], stale: hold, resolvedAt: timing.now, lastError: kind,
  };
  const emptied = previous.addresses.length > 0 && !hold;
  const warn = previous.lastError !== kind || emptied;
  let delay = Math.min(timing.retryMs ?? 5000, timing.refreshMs);
  // Ask again as the hold runs out, so an honoured empty answer is not a whole retry late.
  if (hold && answer) delay = Math.min(delay, holdLeft);
  return { state, delayMs: jitter(delay), warn, ...diff(previous.addresses, state.addresses) };
}

function id(address: DiscoveredAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

function diff(before: readonly DiscoveredAddress[], after: readonly DiscoveredAddress[]): { added: string[]; removed: string[] } {
  const was = new Set(before.map(id));
  const is = new Set(after.map(id));
  return { added: [...is].filter((key) => !was.has(key)), removed: [...was].filter((key) => !is.has(key)) };
}
