// One upstream server: its address, its connection pool, what it has in flight, and
// its health flags. The picker reads `ready`; it never needs to know why.
import { HealthFlags } from './health-flags.js';
import type { UpstreamClient } from '../proxy/upstream-client.js';

export interface LastCheck {
  at: string;
  ok: boolean;
  status?: number;
  error?: string;
  ms: number;
}

export class Target {
  readonly url: string;
  readonly pool: string;
  readonly client: UpstreamClient;
  readonly health = new HealthFlags();
  inflight = 0;
  lastCheck: LastCheck | null = null;

  constructor(url: string, pool: string, client: UpstreamClient) {
    this.url = url;
    this.pool = pool;
    this.client = client;
  }

  get ready(): boolean {
    return this.health.ready;
  }
}
