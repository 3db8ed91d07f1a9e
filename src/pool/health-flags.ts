// A target's health as independent flags, each owned by one part of the system (Envoy's
// model): the active checker, passive ejection, and draining each set only their own flag,
// and `ready` is derived in exactly one place.

export const Flag = {
  /** The active checker has not yet finished its first round for this target. */
  PENDING_FIRST_CHECK: 1,
  /** The active checker saw `unhealthyThreshold` consecutive failures. */
  FAILED_ACTIVE_CHECK: 2,
  /** Passive ejection after consecutive connect errors or 5xx answers. */
  EJECTED: 4,
  /** The target left its sources (file, API, DNS) and is being drained before it is closed (fenced). */
  REMOVED: 8,
  /** An operator set the target to `drain` or `maint` (SPEC §11): fenced, in-flight finishes. */
  ADMIN_FENCED: 16,
} as const;

export type FlagBit = (typeof Flag)[keyof typeof Flag];

export class HealthFlags {
  private bits = 0;

  /** Sets or clears one flag; returns true when `ready` changed as a result. */
  set(flag: FlagBit, on: boolean): boolean {
    const wasReady = this.ready;
    this.bits = on ? this.bits | flag : this.bits & ~flag;
    return wasReady !== this.ready;
  }

  has(flag: FlagBit): boolean {
    return (this.bits & flag) !== 0;
  }

  get ready(): boolean {
    return this.bits === 0;
  }

  /** Health as checks see it: its first check answered and the last ones passed (SPEC §11's `healthy`). */
  get healthy(): boolean {
    return (this.bits & (Flag.PENDING_FIRST_CHECK | Flag.FAILED_ACTIVE_CHECK)) === 0;
  }

  /** Fenced by an operator or by leaving its sources: no new request, whatever its health. */
  get fenced(): boolean {
    return (this.bits & (Flag.ADMIN_FENCED | Flag.REMOVED)) !== 0;
  }
}
