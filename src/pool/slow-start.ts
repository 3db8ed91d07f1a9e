// Slow start (SPEC §11, Envoy's `slow_start_config`): a target entering rotation takes a growing
// share of its pool's traffic instead of its full share at once, so a cold process (empty
// caches, JIT not warm, connection pools empty) is not flooded. Pure arithmetic.
import type { SlowStartConfig } from '../config/schema.js';

/**
 * The factor applied to a target's weight `sinceMs` after it entered rotation:
 * `max(minWeightPercent/100, (sinceMs/windowMs)^(1/aggression))`, 1 once the window is over or
 * when slow start is off (`windowMs` 0). `aggression` 1 is linear; above 1 ramps faster early.
 */
export function slowStartFactor(config: SlowStartConfig, sinceMs: number): number {
  if (config.windowMs <= 0 || sinceMs >= config.windowMs) return 1;
  const ramp = Math.pow(Math.max(0, sinceMs) / config.windowMs, 1 / config.aggression);
  return Math.min(1, Math.max(config.minWeightPercent / 100, ramp));
}

export const SLOW_START_OFF: Readonly<SlowStartConfig> = Object.freeze({ windowMs: 0, aggression: 1, minWeightPercent: 10 });
