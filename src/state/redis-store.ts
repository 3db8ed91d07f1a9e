// Routing state and the targets document (SPEC §11) shared by a fleet through Redis (ioredis).
// Changes are compare-and-set in one Lua script that also records the event and publishes the
// new document on its own channel; every instance subscribes to both. Every call has a time
// limit (`state.opTimeoutMs`) and every mutation's script carries a commit deadline on Redis's
// clock (deadline.ts), so a change we answered 503 for is never applied later. Commands fail
// fast while Redis is unreachable (no offline queue, no resend after a reconnect), so the data
// plane never waits on Redis.
import { performance } from 'node:perf_hooks';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { SwitchyardError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { RoutingState } from '../routing/state.js';
import {
  COMPARE_AND_SET_LUA, COMPARE_AND_SET_TARGETS_LUA, HEARTBEAT_LUA, HOLD_LEASE_LUA, NOW_LUA, PAST_DEADLINE, PUT_ROLLOUT_LUA, RECORD_EVENT_LUA, RELEASE_LEASE_LUA,
  redisKeys, type RedisKeys,
} from './redis-keys.js';
import type { Rollout } from '../rollout/rollout-state.js';
import type { TargetsState } from '../pool/target-admin.js';
import { EVENTS_KEPT, type ChangeEvent, type InstanceReport, type StateStore, type StoreHealth } from './store.js';
import { commitDeadline, StoreTimeoutError, timeLimit } from './deadline.js';
import { HealthTracker } from './store-health.js';

export interface RedisStoreOptions {
  url: string;
  prefix: string;
  /** Extra ioredis options (Sentinel: `sentinels`, `name`; TLS; ...), merged over ours. */
  options?: Record<string, unknown>;
  /** Treat `url` as one startup node of a Redis Cluster. */
  cluster?: boolean;
  /** SPEC §10 `state.opTimeoutMs`: every call's time limit in ms (default 2000). */
  opTimeoutMs?: number;
  logger: Logger;
}

type Client = Redis | Cluster;
type Script = (...args: Array<string | number>) => Promise<number>;
type ScriptClient = Client & {
  switchyardNow: Script; switchyardCas: Script; switchyardCasTargets: Script; switchyardPutRollout: Script; switchyardHoldLease: Script;
  switchyardReleaseLease: Script; switchyardRecordEvent: Script; switchyardHeartbeat: Script;
};

const DEFAULT_OP_TIMEOUT_MS = 2000;

function baseOptions(opTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false, // fail at once while disconnected: never queue a command for later
    maxRetriesPerRequest: 0, // a command whose connection closes fails at once...
    autoResendUnfulfilledCommands: false, // ...and is never sent again after a reconnect: it would be late
    connectTimeout: opTimeoutMs,
    // No byte back for this long with a command pending: the connection is dead. A frozen or
    // partitioned Redis keeps the TCP connection open; this closes it, so a fresh one is
    // tried (a stale socket after a partition could wait many seconds in TCP backoff).
    socketTimeout: opTimeoutMs,
    // Reconnect quickly so a Redis that comes back is noticed well within a second.
    retryStrategy: (times: number) => Math.min(50 * times, 250),
  };
}

export class RedisStore implements StateStore {
  readonly kind = 'redis';
  private readonly keys: RedisKeys;
  private readonly client: ScriptClient;
  private readonly subscriber: Client;
  private readonly listeners = new Set<(state: RoutingState) => void>();
  private readonly targetListeners = new Set<(state: TargetsState) => void>();
  private readonly upListeners = new Set<() => void>();
  private readonly logger: Logger;
  private readonly opTimeoutMs: number;
  private readonly tracker = new HealthTracker((up) => this.changed(up));
  private subscriberRefreshed = false;
  private closed = false;

  constructor(options: RedisStoreOptions) {
    this.keys = redisKeys(options.prefix);
    this.logger = options.logger;
    this.opTimeoutMs = options.opTimeoutMs ?? DEFAULT_OP_TIMEOUT_MS;
    const merged = { ...baseOptions(this.opTimeoutMs), ...options.options } as RedisOptions;
    this.client = connect(options, merged) as ScriptClient;
    // ioredis's own resubscription after a reconnect leaves its promise unhandled: closing the store
    // (or the connection dropping) while it is pending would be an unhandled rejection, which ends
    // the process. So a single node's subscriber subscribes itself on every (re)connect, with a
    // catch; a Cluster's pub/sub connection is ioredis's own, which resubscribes by itself.
    this.subscriber = connect(options, { ...merged, enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: options.cluster === true });
    this.client.defineCommand('switchyardNow', { numberOfKeys: 1, lua: NOW_LUA });
    this.client.defineCommand('switchyardCas', { numberOfKeys: 2, lua: COMPARE_AND_SET_LUA });
    this.client.defineCommand('switchyardCasTargets', { numberOfKeys: 2, lua: COMPARE_AND_SET_TARGETS_LUA });
    this.client.defineCommand('switchyardPutRollout', { numberOfKeys: 1, lua: PUT_ROLLOUT_LUA });
    this.client.defineCommand('switchyardHoldLease', { numberOfKeys: 1, lua: HOLD_LEASE_LUA });
    this.client.defineCommand('switchyardReleaseLease', { numberOfKeys: 1, lua: RELEASE_LEASE_LUA });
    this.client.defineCommand('switchyardRecordEvent', { numberOfKeys: 1, lua: RECORD_EVENT_LUA });
    this.client.defineCommand('switchyardHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT_LUA });
    this.client.on('ready', () => this.tracker.connectedNow());
    this.client.on('close', () => this.tracker.disconnected('connection closed'));
    this.client.on('error', (err: Error) => {
      this.tracker.connectionError(err.message);
      this.logger.debug({ kind: 'state', err: err.message }, 'redis error');
    });
    this.subscriber.on('error', () => undefined); // reported through the command connection
    this.subscriber.on('message', (channel: string, message: string) => this.received(channel, message));
    if (options.cluster) this.subscribeChannels();
    else this.subscriber.on('ready', () => this.subscribeChannels());
  }

  get up(): boolean {
    return this.tracker.up;
  }

  get health(): StoreHealth {
    return this.tracker.view;
  }

  get(): Promise<RoutingState | null> {
    return this.readJson('a read of the routing state', this.keys.state, 'state');
  }

  compareAndSet(expectedRevision: number | null, next: RoutingState, event?: ChangeEvent): Promise<boolean> {
    return this.casDocument('the routing change', this.client.switchyardCas, this.keys.state, this.keys.changes,
      expectedRevision === null ? '' : String(expectedRevision), next, event);
  }

  getTargets(): Promise<TargetsState | null> {
    return this.readJson('a read of the targets', this.keys.targets, 'state');
  }

  compareAndSetTargets(expectedRevision: number | null, next: TargetsState, event?: ChangeEvent): Promise<boolean> {
    return this.casDocument('the targets change', this.client.switchyardCasTargets, this.keys.targets, this.keys.targetChanges,
      String(expectedRevision ?? 0), next, event);
  }

  subscribeTargets(listener: (state: TargetsState) => void): () => void {
    this.targetListeners.add(listener);
    return () => this.targetListeners.delete(listener);
  }

  subscribe(listener: (state: RoutingState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onUp(listener: () => void): () => void {
    this.upListeners.add(listener);
    return () => this.upListeners.delete(listener);
  }

  recentEvents(limit: number): Promise<ChangeEvent[]> {
    return this.read('a read of the events', async () => {
      const items = await this.client.lrange(this.keys.events, 0, limit - 1);
      return items.map((item) => JSON.parse(item) as ChangeEvent);
    });
  }

  async recordEvent(event: ChangeEvent): Promise<void> {
    await this.commit('the event', this.keys.events, (deadline) =>
      this.client.switchyardRecordEvent(this.keys.events, deadline, JSON.stringify(event), EVENTS_KEPT));
  }

  getRollout(): Promise<Rollout | null> {
    return this.readJson('a read of the rollout', this.keys.rollout, 'rollout');
  }

  async putRollout(expectedVersion: number | null, next: Rollout): Promise<boolean> {
    const result = await this.commit('the rollout', this.keys.rollout, (deadline) => this.client.switchyardPutRollout(this.keys.rollout, deadline,
      expectedVersion === null ? '' : String(expectedVersion), String(next.version), next.phase, JSON.stringify(next)));
    return result === 1;
  }

  async holdLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const key = this.keys.lease(name);
    return (await this.commit('the lease', key, (deadline) => this.client.switchyardHoldLease(key, deadline, owner, ttlMs))) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    const key = this.keys.lease(name);
    await this.commit('the lease release', key, (deadline) => this.client.switchyardReleaseLease(key, deadline, owner));
  }

  leaseHolder(name: string): Promise<string | null> {
    return this.read('a read of the lease', () => this.client.get(this.keys.lease(name)));
  }

  async heartbeat(report: InstanceReport, ttlMs: number): Promise<void> {
    const key = this.keys.instance(report.id);
    await this.commit('the heartbeat', key, (deadline) => this.client.switchyardHeartbeat(key, deadline, JSON.stringify(report), ttlMs));
  }

  instances(): Promise<InstanceReport[]> {
    return this.read('a read of the instances', async () => {
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
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.targetListeners.clear();
    this.upListeners.clear();
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  /** A read within the time limit. */
  private async read<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      const result = await timeLimit(run(), this.opTimeoutMs, what);
      this.tracker.succeeded();
      return result;
    } catch (err) {
      throw this.failed(err, what, false);
    }
  }

  /** One hash field's JSON, or null when it is not there; within the time limit. */
  private readJson<T>(what: string, key: string, field: string): Promise<T | null> {
    return this.read(what, async () => {
      const json = await this.client.hget(key, field);
      return json === null ? null : (JSON.parse(json) as T);
    });
  }

  /**
   * A compare-and-set of a revisioned document (routing state or targets) through `script`
   * (COMPARE_AND_SET_LUA's arguments): `key` the document's hash, `channel` where it is
   * announced, `expected` the revision as the script reads it. True when it was stored.
   */
  private async casDocument(what: string, script: Script, key: string, channel: string, expected: string,
    next: { revision: number }, event: ChangeEvent | undefined): Promise<boolean> {
    const result = await this.commit(what, key, (deadline) => script.call(this.client, key, this.keys.events, deadline,
      expected, String(next.revision), JSON.stringify(next), channel, event === undefined ? '' : JSON.stringify(event), EVENTS_KEPT));
    return result === 1;
  }

  /**
   * A mutation: reads Redis's clock on the node holding `key`, then runs `script` with the
   * commit deadline (ms on that clock) as its first argument; the script refuses to run past it.
   * Resolves with the script's own result; rejects when the deadline or the time limit passes.
   */
  private async commit(what: string, key: string, script: (deadline: string) => Promise<number>): Promise<number> {
    const startedAt = performance.now();
    const attempt = async () => {
      const redisNow = await this.client.switchyardNow(key);
      const deadline = commitDeadline(Number(redisNow), startedAt, performance.now(), this.opTimeoutMs);
      if (deadline === null) throw new StoreTimeoutError(this.opTimeoutMs, what);
      const result = await script(String(deadline));
      // Only reachable when Redis answered within our limit but ran the script late (a clock step).
      if (result === PAST_DEADLINE) throw new StoreTimeoutError(this.opTimeoutMs, what);
      return result;
    };
    try {
      const result = await timeLimit(attempt(), this.opTimeoutMs, what);
      this.tracker.succeeded();
      return result;
    } catch (err) {
      throw this.failed(err, what, true);
    }
  }

  /** Records what a failed call says about the store; the caller's error is always a 503. */
  private failed(err: unknown, what: string, mutation: boolean): SwitchyardError {
    const error = err as Error;
    if (error instanceof StoreTimeoutError) {
      this.tracker.timedOut(error.message);
      this.refreshSubscriber();
      const message = mutation
        ? `the redis state store did not commit ${what} within ${error.ms} ms; it will not be applied later`
        : `the redis state store did not answer ${what} within ${error.ms} ms`;
      return new SwitchyardError('STATE_UNAVAILABLE', message);
    }
    if (error.name === 'ReplyError') this.tracker.succeeded(); // Redis answered, with an error
    return new SwitchyardError('STATE_UNAVAILABLE', `the redis state store failed (${what}): ${error.message}`);
  }

  /**
   * After a stall, the subscription may sit on a half-dead socket too (a partition): reconnect
   * it once per outage so changes reach us again as soon as Redis does. Anything published
   * meanwhile is caught by the resync that follows the store coming back up.
   */
  private refreshSubscriber(): void {
    if (this.subscriberRefreshed || this.closed) return;
    this.subscriberRefreshed = true;
    this.subscriber.disconnect(true);
  }

  /** Both channels, on the subscriber connection; a failure is followed by a reconnect, which subscribes again. */
  private subscribeChannels(): void {
    void this.subscriber.subscribe(this.keys.changes, this.keys.targetChanges).catch(() => undefined);
  }

  /** A published document: to the routing or the targets listeners by channel; anything malformed is dropped with a warning. */
  private received(channel: string, message: string): void {
    const targets = channel === this.keys.targetChanges;
    if (!targets && channel !== this.keys.changes) return;
    const what = targets ? 'targets' : 'routing';
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return this.logger.warn({ kind: 'state', channel }, `ignored a malformed ${what} message (not JSON)`);
    }
    const doc = parsed as { revision?: unknown; weights?: unknown; pools?: unknown } | null;
    const body = targets ? doc?.pools : doc?.weights;
    if (typeof doc?.revision !== 'number' || typeof body !== 'object' || body === null) {
      return this.logger.warn({ kind: 'state', channel }, `ignored a malformed ${what} message (no revision or ${targets ? 'pools' : 'weights'})`);
    }
    if (targets) for (const listener of this.targetListeners) listener(parsed as TargetsState);
    else for (const listener of this.listeners) listener(parsed as RoutingState);
  }

  private changed(up: boolean): void {
    if (this.closed) return;
    if (up) {
      this.subscriberRefreshed = false;
      this.logger.info({ kind: 'state', store: 'redis' }, 'state store up');
      for (const listener of this.upListeners) listener();
    } else {
      this.logger.error({ kind: 'state', store: 'redis', err: this.tracker.view.error },
        'state store DOWN: routing on the last known state; changes refused until it is back');
    }
  }
}

function connect(options: RedisStoreOptions, redisOptions: RedisOptions): Client {
  if (options.cluster) return new Cluster([options.url], { redisOptions, enableOfflineQueue: redisOptions.enableOfflineQueue ?? false });
  return new Redis(options.url, redisOptions);
}
