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
  /** The target was removed from the config and is being drained (fenced). */
  REMOVED: 8,
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
}
