// Whether a remote store answers, for `GET /status`, `switchyard_state_store_up` and the
// callers that refuse changes while it does not. "Connected" is not enough: a frozen Redis
// keeps its TCP connection open, so a call that times out marks the store down too, until a
// call succeeds or the connection comes back.

/** What `GET /status` shows as `store` (besides `kind`). */
export interface StoreHealth {
  up: boolean;
  /** When the store last answered (ISO 8601), null if never. */
  lastOkAt: string | null;
  /** Why the store is down; null while it is up. */
  error: string | null;
}

export class HealthTracker {
  private connected = false;
  private stalled = false;
  private lastOk: Date | null = null;
  private lastError: string | null = null;

  /** `changed(up)` is called on every transition, with the new value. */
  constructor(private readonly changed: (up: boolean) => void) {}

  get up(): boolean {
    return this.connected && !this.stalled;
  }

  get view(): StoreHealth {
    const up = this.up;
    return { up, lastOkAt: this.lastOk?.toISOString() ?? null, error: up ? null : (this.lastError ?? 'not connected yet') };
  }

  /** The connection is (again) ready: the store answered its handshake. */
  connectedNow(): void {
    this.update(() => {
      this.connected = true;
      this.stalled = false;
      this.lastOk = new Date();
    });
  }

  /** The connection closed; `reason` unless an error already said why. */
  disconnected(reason: string): void {
    this.update(() => {
      this.lastError ??= reason;
      this.connected = false;
    });
  }

  /** A connection-level error (refused, reset, socket timeout): why it is (or is about to be) down. */
  connectionError(reason: string): void {
    this.lastError = reason;
  }

  succeeded(): void {
    this.update(() => {
      this.stalled = false;
      this.lastOk = new Date();
    });
  }

  /** A call got no answer in time: down until something answers. */
  timedOut(reason: string): void {
    this.update(() => {
      this.stalled = true;
      this.lastError = reason;
    });
  }

  private update(apply: () => void): void {
    const before = this.up;
    apply();
    if (this.up) this.lastError = null; // errors from before are no longer why it is down
    if (this.up !== before) this.changed(this.up);
  }
}
