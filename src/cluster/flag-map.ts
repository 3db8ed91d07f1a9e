// The health flags the primary owns (active checks, passive ejection) as the map workers apply
// (SPEC §15: health is pushed from the primary, one probe per target per interval). Pure.
import { Flag } from '../pool/health-flags.js';
import type { UpstreamPool } from '../pool/upstream-pool.js';
import type { FlagMap } from './messages.js';

/** The flags the primary owns; a worker never sets them from its own evidence. */
export const PRIMARY_FLAGS = [Flag.PENDING_FIRST_CHECK, Flag.FAILED_ACTIVE_CHECK, Flag.EJECTED] as const;

/** Pool → target id → the owned flags' bits, for every live target. */
export function primaryFlags(pools: readonly UpstreamPool[]): FlagMap {
  const out: FlagMap = {};
  for (const pool of pools) {
    const targets: Record<string, number> = {};
    for (const target of pool.targets) {
      let bits = 0;
      for (const flag of PRIMARY_FLAGS) if (target.health.has(flag)) bits |= flag;
      targets[target.id] = bits;
    }
    out[pool.name] = targets;
  }
  return out;
}
