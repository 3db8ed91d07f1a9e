// Request ids for requests that arrive without one. They keep the UUID v4 form users expect in
// their logs, but only the first 74 bits are random (drawn once per process); the last 48 count
// up. Unique per process and across processes, and far cheaper than a random UUID per request.
import { randomUUID } from 'node:crypto';

const COUNTER_DIGITS = 12;

export class RequestIds {
  /** `xxxxxxxx-xxxx-4xxx-yxxx-`: version and variant bits as randomUUID set them. */
  private readonly prefix = randomUUID().slice(0, 24);
  private counter: number;

  constructor(start = 0) {
    this.counter = start;
  }

  next(): string {
    // 48 bits of counter: at a million requests a second it wraps after nine years.
    this.counter = this.counter >= 0xffff_ffff_ffff ? 0 : this.counter + 1;
    return this.prefix + this.counter.toString(16).padStart(COUNTER_DIGITS, '0');
  }
}

/** One sequence per process, shared by the listeners and the tunnels. */
export const requestIds = new RequestIds();
