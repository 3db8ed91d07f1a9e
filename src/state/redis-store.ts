// Routing state shared by a fleet through Redis (ioredis). Changes are compare-and-set in
// one Lua script that also records the event and publishes the new state; every instance
// subscribes. Commands fail fast while Redis is unreachable (no offline queue), so the data
// plane never waits on Redis and mutations can answer 503 at once.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observe/logger.js';
import type { RoutingState } from '../routing/state.js';
import { COMPARE_AND_SET_LUA, HOLD_LEASE_LUA, PUT_ROLLOUT_LUA, RELEASE_LEASE_LUA, redisKeys, type RedisKeys } from './redis-keys.js';
import type { Rollout } from '../rollout/rollout-state.js';
import { EVENTS_KEPT, type ChangeEvent, type InstanceReport, type StateStore } from './store.js';

export interface RedisStoreOptions {
  url: string;
  prefix: string;
  /** Extra ioredis options (Sentinel: `sentinels`, `name`; TLS; ...), merged over ours. */
  options?: Record<string, unknown>;
  /** Treat `url` as one startup node of a Redis Cluster. */
  cluster?: boolean;
  logger: Logger;
}

type Client = Redis | Cluster;
type Script = (...args: Array<string | number>) => Promise<number>;
type CasClient = Client & { switchyardCas: Script; switchyardPutRollout: Script; switchyardHoldLease: Script; switchyardReleaseLease: Script };

const BASE_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  // Reconnect quickly so a Redis that comes back is noticed well within a second.
  retryStrategy: (times: number) => Math.min(50 * times, 250),
};

export class RedisStore implements StateStore {
  readonly kind = 'redis';
  private readonly keys: RedisKeys;
  private readonly client: CasClient;
  private readonly subscriber: Client;
  private readonly listeners = new Set<(state: RoutingState) => void>();
  private readonly upListeners = new Set<() => void>();
  private readonly logger: Logger;
  private wasUp = false;
  private closed = false;

  constructor(options: RedisStoreOptions) {
    this.keys = redisKeys(options.prefix);
    this.logger = options.logger;
    const merged = { ...BASE_OPTIONS, ...options.options } as RedisOptions;
    this.client = connect(options, merged) as CasClient;
    // The subscriber queues its SUBSCRIBE until connected; ioredis resubscribes after reconnects.
    this.subscriber = connect(options, { ...merged, enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.client.defineCommand('switchyardCas', { numberOfKeys: 2, lua: COMPARE_AND_SET_LUA });
    this.client.defineCommand('switchyardPutRollout', { numberOfKeys: 1, lua: PUT_ROLLOUT_LUA });
    this.client.defineCommand('switchyardHoldLease', { numberOfKeys: 1, lua: HOLD_LEASE_LUA });
    this.client.defineCommand('switchyardReleaseLease', { numberOfKeys: 1, lua: RELEASE_LEASE_LUA });
    this.client.on('ready', () => this.cameUp());
    this.client.on('close', () => this.wentDown());
    this.client.on('error', (err: Error) => this.logger.debug({ kind: 'state', err: err.message }, 'redis error'));
    this.subscriber.on('error', () => undefined); // reported through the command connection
    this.subscriber.on('message', (_channel: string, message: string) => this.received(message));
    void this.subscriber.subscribe(this.keys.changes).catch(() => undefined);
  }

  get up(): boolean {
    return this.client.status === 'ready';
  }

  async get(): Promise<RoutingState | null> {
    const json = await this.client.hget(this.keys.state, 'state');
    return json === null ? null : (JSON.parse(json) as RoutingState);
  }

  async compareAndSet(expectedRevision: number | null, next: RoutingState, event?: ChangeEvent): Promise<boolean> {
    const result = await this.client.switchyardCas(
      this.keys.state, this.keys.events,
      expectedRevision === null ? '' : String(expectedRevision), String(next.revision), JSON.stringify(next),
      this.keys.changes, event === undefined ? '' : JSON.stringify(event), EVENTS_KEPT,
    );
    return result === 1;
  }

  subscribe(listener: (state: RoutingState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  waitUntilUp(timeoutMs: number): Promise<boolean> {
    if (this.up) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (up: boolean) => {
        clearTimeout(timer);
        off();
        resolve(up);
      };
      const timer = setTimeout(() => done(this.up), timeoutMs);
      const off = this.onUp(() => done(true));
    });
  }

  onUp(listener: () => void): () => void {
    this.upListeners.add(listener);
    return () => this.upListeners.delete(listener);
  }

  async recentEvents(limit: number): Promise<ChangeEvent[]> {
    const items = await this.client.lrange(this.keys.events, 0, limit - 1);
    return items.map((item) => JSON.parse(item) as ChangeEvent);
  }

  async recordEvent(event: ChangeEvent): Promise<void> {
    await this.client.multi().lpush(this.keys.events, JSON.stringify(event)).ltrim(this.keys.events, 0, EVENTS_KEPT - 1).exec();
  }

  async getRollout(): Promise<Rollout | null> {
    const json = await this.client.hget(this.keys.rollout, 'rollout');
    return json === null ? null : (JSON.parse(json) as Rollout);
  }

  async putRollout(expectedVersion: number | null, next: Rollout): Promise<boolean> {
    const result = await this.client.switchyardPutRollout(this.keys.rollout,
      expectedVersion === null ? '' : String(expectedVersion), String(next.version), next.phase, JSON.stringify(next));
    return result === 1;
  }

  async holdLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.client.switchyardHoldLease(this.keys.lease(name), owner, ttlMs)) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.client.switchyardReleaseLease(this.keys.lease(name), owner);
  }

  async leaseHolder(name: string): Promise<string | null> {
    return this.client.get(this.keys.lease(name));
  }

  async heartbeat(report: InstanceReport, ttlMs: number): Promise<void> {
    await this.client.set(this.keys.instance(report.id), JSON.stringify(report), 'PX', ttlMs);
  }

  async instances(): Promise<InstanceReport[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await (this.client as Redis).scan(cursor, 'MATCH', this.keys.instancePattern, 'COUNT', 200);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await Promise.all(keys.map((key) => this.client.get(key)));
    return values.filter((value): value is string => value !== null).map((value) => JSON.parse(value) as InstanceReport)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.upListeners.clear();
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  private received(message: string): void {
    let state: RoutingState;
    try {
      state = JSON.parse(message) as RoutingState;
    } catch {
      return this.logger.warn({ kind: 'state' }, 'ignored a malformed routing message');
    }
    if (typeof state?.revision !== 'number' || typeof state.weights !== 'object') return;
    for (const listener of this.listeners) listener(state);
  }

  private cameUp(): void {
    if (!this.wasUp) this.logger.info({ kind: 'state', store: 'redis' }, 'state store up');
    this.wasUp = true;
    for (const listener of this.upListeners) listener();
  }

  private wentDown(): void {
    if (this.wasUp && !this.closed) this.logger.error({ kind: 'state', store: 'redis' }, 'state store DOWN: routing on the last known state; changes refused until it is back');
    this.wasUp = false;
  }
}

function connect(options: RedisStoreOptions, redisOptions: RedisOptions): Client {
  if (options.cluster) return new Cluster([options.url], { redisOptions, enableOfflineQueue: redisOptions.enableOfflineQueue ?? false });
  return new Redis(options.url, redisOptions);
}
