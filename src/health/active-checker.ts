// Active health checks: one loop per target, `interval` plus up to 10% jitter so a fleet's
// checks do not arrive in lockstep. This part owns two health flags of a target:
// PENDING_FIRST_CHECK and FAILED_ACTIVE_CHECK. The probe itself is pluggable.
import type { HealthCheckConfig } from '../config/schema.js';
import { Flag } from '../pool/health-flags.js';
import type { Target } from '../pool/target.js';
import { parseStatusRanges } from './status-range.js';
import { Thresholds } from './thresholds.js';
import type { Probe, ProbeResult, ProbeSettings } from './http-probe.js';

export interface HealthChange {
  target: Target;
  healthy: boolean;
  result: ProbeResult;
}

interface Entry {
  target: Target;
  config: HealthCheckConfig;
  settings: ProbeSettings;
  thresholds: Thresholds;
  timer: NodeJS.Timeout | null;
  running: boolean;
}

const JITTER = 0.1;

export class ActiveHealthChecker {
  private readonly entries = new Map<Target, Entry>();
  private started = false;

  constructor(
    private readonly probe: Probe,
    private readonly onChange: (change: HealthChange) => void,
    private readonly random: () => number = Math.random,
  ) {}

  /** Starts checking a target; it is not ready until its first check has answered. */
  watch(target: Target, config: HealthCheckConfig): void {
    if (this.entries.has(target)) return this.configure(target, config);
    const entry: Entry = {
      target,
      config,
      settings: settingsOf(config),
      thresholds: new Thresholds(config.healthyThreshold, config.unhealthyThreshold),
      timer: null,
      running: true,
    };
    target.setFlag(Flag.PENDING_FIRST_CHECK, true);
    this.entries.set(target, entry);
    if (this.started) void this.checkAndSchedule(entry);
  }

  /** New settings (a reload) take effect from the next check. */
  configure(target: Target, config: HealthCheckConfig): void {
    const entry = this.entries.get(target);
    if (entry === undefined) return;
    entry.config = config;
    entry.settings = settingsOf(config);
    entry.thresholds.configure(config.healthyThreshold, config.unhealthyThreshold);
  }

  unwatch(target: Target): void {
    const entry = this.entries.get(target);
    if (entry === undefined) return;
    entry.running = false;
    if (entry.timer !== null) clearTimeout(entry.timer);
    this.entries.delete(target);
  }

  /** Runs one round of checks on every watched target, then keeps checking. */
  async start(): Promise<void> {
    this.started = true;
    await Promise.all([...this.entries.values()].map((entry) => this.checkAndSchedule(entry)));
  }

  stop(): void {
    this.started = false;
    for (const target of [...this.entries.keys()]) this.unwatch(target);
  }

  private async checkAndSchedule(entry: Entry): Promise<void> {
    const result = await this.probe(entry.target.url, entry.settings, entry.target.servername, entry.target.tls?.current);
    if (!entry.running) return;
    this.record(entry, result);
    const { intervalMs } = entry.config;
    entry.timer = setTimeout(() => {
      entry.timer = null;
      void this.checkAndSchedule(entry);
    }, intervalMs + Math.floor(this.random() * JITTER * intervalMs));
    entry.timer.unref();
  }

  private record(entry: Entry, result: ProbeResult): void {
    const { target, thresholds } = entry;
    target.lastCheck = { at: new Date().toISOString(), ...result };
    const transition = thresholds.observe(result.ok);
    const wasPending = target.health.has(Flag.PENDING_FIRST_CHECK);
    target.setFlag(Flag.PENDING_FIRST_CHECK, false);
    target.setFlag(Flag.FAILED_ACTIVE_CHECK, thresholds.healthy !== true);
    if (transition === 'changed' || wasPending) this.onChange({ target, healthy: thresholds.healthy === true, result });
  }
}

function settingsOf(config: HealthCheckConfig): ProbeSettings {
  // The config loader has already rejected status lists that do not parse.
  return {
    type: config.type ?? 'http',
    path: config.path,
    timeoutMs: config.timeoutMs,
    expect: parseStatusRanges(config.expectStatus) ?? [[200, 399]],
    grpcService: config.grpcService ?? '',
  };
}
