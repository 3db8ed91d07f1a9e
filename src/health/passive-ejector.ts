// Passive health: `consecutiveFailures` connect errors or 5xx answers in a row eject a
// target for `ejectMs`. Owns the EJECTED flag. Never ejects a pool's last ready target
// on passive evidence alone (panic mode): a flaky target beats a certain 503.
import { Flag } from '../pool/health-flags.js';
import type { Target } from '../pool/target.js';

export interface PassiveSettings {
  consecutiveFailures: number;
  ejectMs: number;
}

export interface EjectionEvent {
  target: Target;
  ejected: boolean;
  /** True when the threshold was reached but the target was kept as its pool's last ready one. */
  panic?: boolean;
}

export class PassiveEjector {
  private readonly failures = new Map<Target, number>();
  private readonly timers = new Map<Target, NodeJS.Timeout>();

  constructor(
    private settings: PassiveSettings,
    /** The targets of the pool a target belongs to (to find the last ready one). */
    private readonly siblings: (target: Target) => readonly Target[],
    private readonly onEvent: (event: EjectionEvent) => void,
  ) {}

  configure(settings: PassiveSettings): void {
    this.settings = settings;
  }

  /** One outcome of a proxied attempt: ok, or a connect error / 5xx / timeout. */
  observe(target: Target, ok: boolean): void {
    if (ok) {
      if (this.failures.has(target)) this.failures.delete(target);
      return;
    }
    const count = (this.failures.get(target) ?? 0) + 1;
    this.failures.set(target, count);
    if (count < this.settings.consecutiveFailures || target.health.has(Flag.EJECTED)) return;
    const othersReady = this.siblings(target).some((other) => other !== target && other.ready);
    if (!othersReady) return this.onEvent({ target, ejected: false, panic: true });
    this.eject(target);
  }

  /** Lifts an ejection early (an active check proved the target healthy again). */
  release(target: Target): void {
    const timer = this.timers.get(target);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(target);
    this.failures.delete(target);
    if (target.health.has(Flag.EJECTED)) {
      target.setFlag(Flag.EJECTED, false);
      this.onEvent({ target, ejected: false });
    }
  }

  forget(target: Target): void {
    const timer = this.timers.get(target);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(target);
    this.failures.delete(target);
  }

  stop(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private eject(target: Target): void {
    target.setFlag(Flag.EJECTED, true);
    this.failures.delete(target);
    const timer = setTimeout(() => this.release(target), this.settings.ejectMs);
    timer.unref();
    this.timers.set(target, timer);
    this.onEvent({ target, ejected: true });
  }
}
