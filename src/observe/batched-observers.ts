// Hands finished requests to the observers (metrics, rollout meter, rates, access log) in one
// go at the end of the event loop turn instead of one request at a time between two requests'
// proxying: measured a few microseconds cheaper per request, since each observer then runs hot
// over the whole turn's records. A record waits at most one turn; at exit, the queue is handed
// over at once.
import type { RequestObserver, RequestRecord } from './request-record.js';

export class BatchedObservers implements RequestObserver {
  private readonly observers: readonly RequestObserver[];
  private queue: RequestRecord[] = [];
  private readonly deliverSoon = (): void => this.deliver();

  constructor(observers: readonly RequestObserver[]) {
    this.observers = observers;
  }

  requestFinished(record: RequestRecord): void {
    if (this.queue.push(record) === 1) {
      queued.add(this);
      setImmediate(this.deliverSoon);
    }
  }

  /** Hands every queued record to every observer, in order. */
  deliver(): void {
    const records = this.queue;
    if (records.length === 0) return;
    this.queue = [];
    queued.delete(this);
    for (const observer of this.observers) {
      for (const record of records) observer.requestFinished(record);
    }
  }
}

/** Batches holding records: only these need anything at exit. */
const queued = new Set<BatchedObservers>();
process.on('exit', () => {
  for (const batch of queued) batch.deliver();
});
