// The config file's shape: one TypeBox schema gives both the JSON schema that validates
// the file and the TypeScript types the rest of the code uses. Defaults live here too.
import { Type, type Static, type TSchema, type TProperties } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** An object whose unknown keys are errors and which defaults to `{}` so inner defaults apply. */
function block<T extends TProperties>(properties: T) {
  return Type.Object(properties, { additionalProperties: false, default: {} });
}

const port = (fallback: number) => Type.Integer({ minimum: 0, maximum: 65535, default: fallback });
const ms = (fallback: number) => Type.Integer({ minimum: 0, default: fallback });
const positive = (fallback: number) => Type.Integer({ minimum: 1, default: fallback });
const optional = <T extends TSchema>(schema: T) => Type.Optional(schema);

export const HealthCheckSchema = block({
  path: Type.String({ pattern: '^/', default: '/healthz' }),
  intervalMs: positive(2000),
  timeoutMs: positive(1000),
  healthyThreshold: positive(2),
  unhealthyThreshold: positive(3),
  expectStatus: Type.String({ default: '200-399' }),
  /**
   * SPEC §14: `http` (GET `path`, status in `expectStatus`) or `grpc`
   * (`grpc.health.v1.Health/Check` for `grpcService` over HTTP/2; SERVING = healthy).
   */
  type: Type.Union([Type.Literal('http'), Type.Literal('grpc')], { default: 'http' }),
  /** The service name a gRPC check asks about; '' = the server as a whole (grpc health protocol). */
  grpcService: Type.String({ default: '' }),
});

/** A pool may override any health-check key; the rest come from the top-level block. */
export const PoolHealthCheckSchema = Type.Partial(
  Type.Object(HealthCheckSchema.properties, { additionalProperties: false }),
  { additionalProperties: false },
);

/**
 * SPEC §11 slow start (Envoy's `slow_start_config`): a target entering rotation gets
 * `weight × max(minWeightPercent/100, (t/windowMs)^(1/aggression))` until `windowMs` has passed.
 * `windowMs: 0` turns it off.
 */
export const SlowStartSchema = block({
  windowMs: ms(0),
  aggression: Type.Number({ exclusiveMinimum: 0, default: 1 }),
  minWeightPercent: Type.Number({ minimum: 0, maximum: 100, default: 10 }),
});

/** A pool may override any slow-start key; the rest come from the top-level block. */
export const PoolSlowStartSchema = Type.Partial(
  Type.Object(SlowStartSchema.properties, { additionalProperties: false }),
  { additionalProperties: false },
);

/** One of a fixed set of strings, with a default (load.ts names the allowed values when another is given). */
const oneOf = <T extends string>(values: readonly T[], fallback: T) =>
  Type.Union(values.map((value) => Type.Literal(value)), { default: fallback });

/**
 * SPEC §12: a pool's targets from a DNS name — one target `scheme://address:port` per address.
 * `port` is required for A/AAAA (validate.ts; SRV records carry their own). Times in ms:
 * re-resolved after min(TTL, refreshMs) + jitter; the last good set outlives DNS failures by `holdMs`.
 */
export const DiscoverSchema = Type.Object(
  {
    dns: Type.String({ minLength: 1 }),
    port: optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    // Optional here, defaulted in load.ts: TypeBox fills defaults only along keys that have one,
    // and `discover` cannot default to {} (its absence means "no discovery").
    scheme: optional(oneOf(['http', 'https'] as const, 'http')),
    type: optional(oneOf(['A', 'AAAA', 'A+AAAA', 'SRV'] as const, 'A')),
    refreshMs: optional(positive(30000)),
    holdMs: optional(ms(300000)),
  },
  { additionalProperties: false },
);

/**
 * SPEC §13: TLS to a pool's `https` targets (and their health checks). Files are PEM paths
 * (relative to the working directory), re-read when they change. `servername` overrides the
 * SNI and the name the certificate is checked against (default: the target's own name);
 * `verify: false` accepts any certificate (testing only); `cert` + `key` are the client
 * certificate for mTLS (both or neither, validate.ts).
 */
export const PoolTlsSchema = Type.Object(
  {
    ca: optional(Type.String({ minLength: 1 })),
    servername: optional(Type.String({ minLength: 1 })),
    cert: optional(Type.String({ minLength: 1 })),
    key: optional(Type.String({ minLength: 1 })),
    verify: optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false },
);

/** SPEC §13: one certificate pair; the SNI names it serves come from its SAN list. */
export const CertificatePairSchema = Type.Object(
  { cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);

/** SPEC §13: the HTTPS listener. Without the block there is none. */
export const TlsSchema = Type.Object(
  {
    host: Type.String({ default: '0.0.0.0' }),
    port: port(8443),
    /** The first pair is the default (clients without SNI, or a name no pair has). */
    certificates: Type.Array(CertificatePairSchema, { minItems: 1 }),
    minVersion: oneOf(['TLSv1.2', 'TLSv1.3'] as const, 'TLSv1.2'),
    /** true: the plain listener answers 308 to https:// (the admin API is unaffected). */
    redirectHttp: Type.Boolean({ default: false }),
    /** ALPN h2 (SPEC §14); until then only http/1.1 is offered whatever this says. */
    http2: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);

export const PoolSchema = Type.Object(
  {
    version: optional(Type.String()),
    /** Optional when `discover` is given (validate.ts: a pool needs one of them). */
    targets: optional(Type.Array(Type.String())),
    discover: optional(DiscoverSchema),
    tls: optional(PoolTlsSchema),
    /** SPEC §14: how requests go to its targets: HTTP/1.1, HTTP/2 in clear (h2c), HTTP/2 over TLS (ALPN h2). */
    protocol: optional(Type.Union([Type.Literal('http1'), Type.Literal('h2c'), Type.Literal('h2')])),
    healthCheck: optional(PoolHealthCheckSchema),
    slowStart: optional(PoolSlowStartSchema),
  },
  { additionalProperties: false },
);

/** SPEC §10: bounds on what one client or one target can hold. */
export const LimitsSchema = block({
  /** A request head (request line + headers) larger than this → 431. */
  maxHeaderBytes: Type.Integer({ minimum: 1024, maximum: 1048576, default: 16384 }),
  /**
   * The whole request head must arrive within this many ms of the connection's start or of
   * the previous request → 408 and the connection closed (nginx's client_header_timeout and
   * Node's headersTimeout, both 60 s): a slow or silent client holds nothing for long.
   */
  requestHeadMs: positive(60000),
  /** No request-body byte for this long → 408, the upstream request aborted. 0 = no limit. */
  requestBodyIdleMs: ms(30000),
  /** 0 = unlimited; a larger Content-Length → 413 before dispatch, a streamed overrun → cut. */
  maxRequestBodyBytes: Type.Integer({ minimum: 0, default: 0 }),
  /** Requests waiting for a connection to one target; beyond → 503 + Retry-After. */
  maxPendingPerTarget: positive(1024),
  /** Open connections (requests and tunnels) to one target. */
  maxConnectionsPerTarget: positive(256),
});

export const ConfigSchema = Type.Object(
  {
    listen: block({ host: Type.String({ default: '0.0.0.0' }), port: port(8080) }),
    // No `default: {}` here: without a `preview` block there is no preview listener at all.
    preview: optional(Type.Object(
      { host: Type.String({ default: '0.0.0.0' }), port: port(8081) },
      { additionalProperties: false },
    )),
    tls: optional(TlsSchema),
    admin: block({
      host: Type.String({ default: '127.0.0.1' }),
      port: port(9901),
      token: Type.String({ default: '' }),
      metricsPublic: Type.Boolean({ default: false }),
    }),
    pools: Type.Record(Type.String(), PoolSchema),
    routing: block({
      initial: optional(Type.Record(Type.String(), Type.Integer())),
      stickyCookie: optional(Type.String({ minLength: 1 })),
      overrideHeader: optional(Type.String({ minLength: 1 })),
      /** Client CIDRs that may use the override header; absent = anyone. */
      overrideAllow: optional(Type.Array(Type.String())),
      poolHeader: optional(Type.String({ minLength: 1 })),
    }),
    healthCheck: HealthCheckSchema,
    slowStart: SlowStartSchema,
    passive: block({ consecutiveFailures: positive(5), ejectMs: ms(30000) }),
    retries: block({ attempts: Type.Integer({ minimum: 0, maximum: 10, default: 2 }) }),
    timeouts: block({ connectMs: positive(2000), headersMs: positive(30000), keepAliveMs: positive(65000) }),
    limits: LimitsSchema,
    /** SPEC §12: DNS servers for discovery, `ip` or `ip:port` (`[v6]:port`); empty = the system's resolv.conf. */
    resolver: block({ servers: Type.Array(Type.String(), { default: [] }) }),
    drain: block({ timeoutMs: ms(30000) }),
    shutdown: block({ graceMs: ms(30000) }),
    state: block({
      store: Type.Union([Type.Literal('memory'), Type.Literal('redis')], { default: 'memory' }),
      url: Type.String({ default: 'redis://127.0.0.1:6379' }),
      prefix: Type.String({ default: 'switchyard:' }),
      /** Treat `url` as a startup node of a Redis Cluster. */
      cluster: Type.Boolean({ default: false }),
      /** Passed to ioredis as they are: Sentinel (`sentinels`, `name`), TLS, password, ... */
      options: optional(Type.Record(Type.String(), Type.Unknown())),
      /** SPEC §10: every state-store call has this deadline; a mutation past it is never applied. */
      opTimeoutMs: positive(2000),
    }),
    /**
     * SPEC §15: data-plane processes sharing the listeners. `auto` = the machine's available
     * parallelism (os.availableParallelism()); more than that is allowed, with a warning.
     */
    workers: Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal('auto')], { default: 1, hint: 'a whole number from 1 to 256, or "auto"' }),
    log: block({
      level: Type.Union(
        ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
        { default: 'info' },
      ),
      access: Type.Boolean({ default: true }),
    }),
  },
  { additionalProperties: false },
);

/** The file as validated, defaults applied. */
export type RawConfig = Static<typeof ConfigSchema>;
/** `type` and `grpcService` are always set by the loader; optional here for parts built without a file (absent = http, ''). */
export type HealthCheckConfig = Omit<Static<typeof HealthCheckSchema>, 'type' | 'grpcService'> & { type?: 'http' | 'grpc'; grpcService?: string };
export type SlowStartConfig = Static<typeof SlowStartSchema>;
export type LimitsConfig = Static<typeof LimitsSchema>;
/** `discover` with defaults applied (`port` absent only for SRV). */
export type DiscoverConfig = Required<Omit<Static<typeof DiscoverSchema>, 'port'>> & { port?: number };
export type TlsConfig = Static<typeof TlsSchema>;
export type CertificatePairConfig = Static<typeof CertificatePairSchema>;
/** `pools.NAME.tls` with `verify` defaulted. */
export type PoolTlsConfig = Omit<Static<typeof PoolTlsSchema>, 'verify'> & { verify: boolean };
export const DISCOVER_DEFAULTS = { scheme: 'http', type: 'A', refreshMs: 30000, holdMs: 300000 } as const satisfies Partial<DiscoverConfig>;
/** The limits with every default, for parts built without a config file (tests, the demo). */
export const DEFAULT_LIMITS: Readonly<LimitsConfig> = Object.freeze(Value.Default(LimitsSchema, {}) as LimitsConfig);

export interface PoolConfig {
  name: string;
  version: string;
  /** Target origins from the file, in file order (`source: config`); empty when the file has none. */
  targets: string[];
  /** DNS discovery (SPEC §12): more targets, `source: dns`. */
  discover?: DiscoverConfig;
  /** TLS to its https targets (SPEC §13); absent: system CAs, the target's own name, verify. */
  tls?: PoolTlsConfig;
  /** SPEC §14 upstream protocol; the loader always sets it (absent = http1, for parts built without a file). */
  protocol?: UpstreamProtocol;
  healthCheck: HealthCheckConfig;
  slowStart: SlowStartConfig;
}

/** The config the program runs on: every default resolved, pools in file order. */
export interface Config extends Omit<RawConfig, 'pools' | 'routing'> {
  pools: PoolConfig[];
  routing: Omit<RawConfig['routing'], 'initial'> & { initial: Record<string, number> };
}

export type UpstreamProtocol = 'http1' | 'h2c' | 'h2';

export const POOL_NAME = /^[a-z][a-z0-9-]{0,31}$/;
export const DEFAULT_VERSION = 'unversioned';
