// The config loader end to end: YAML → ${VAR} → defaults → schema → semantic checks.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfigFile, parseConfigText, resolveConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

/** Calls `load`, which must throw a ConfigError, and returns its `problems`. */
function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError, but the config loaded');
}

/** One pool (`blue`, one target): the smallest valid file, to which a test adds one mistake. */
const BLUE = 'pools:\n  blue:\n    targets: ["http://127.0.0.1:3001"]\n';

const HEALTH_DEFAULTS = {
  path: '/healthz',
  intervalMs: 2000,
  timeoutMs: 1000,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  expectStatus: '200-399',
  type: 'http',
  grpcService: '',
};

/** The problems of a config text that must be refused (no environment unless given). */
const refuse = (text: string, env: NodeJS.ProcessEnv = {}) => problemsOf(() => parseConfigText(text, env, 'f.yaml'));

const SLOW_START_DEFAULTS = { windowMs: 0, aggression: 1, minWeightPercent: 10 };

t.test('a file with only pools gets every default', async (t) => {
  const config = parseConfigText(BLUE, {});
  t.strictSame(config, {
    listen: { host: '0.0.0.0', port: 8080 },
    admin: { host: '127.0.0.1', port: 9901, token: '', metricsPublic: false },
    pools: [{ name: 'blue', version: 'unversioned', targets: ['http://127.0.0.1:3001'], protocol: 'http1', healthCheck: HEALTH_DEFAULTS, slowStart: SLOW_START_DEFAULTS }],
    routing: { initial: { blue: 100 } },
    healthCheck: HEALTH_DEFAULTS,
    slowStart: SLOW_START_DEFAULTS,
    passive: { consecutiveFailures: 5, ejectMs: 30000 },
    retries: { attempts: 2 },
    timeouts: { connectMs: 2000, headersMs: 30000, keepAliveMs: 65000 },
    limits: { maxHeaderBytes: 16384, requestHeadMs: 60000, requestBodyIdleMs: 30000, maxRequestBodyBytes: 0, maxPendingPerTarget: 1024, maxConnectionsPerTarget: 256 },
    resolver: { servers: [] },
    drain: { timeoutMs: 30000 },
    shutdown: { graceMs: 30000 },
    state: { store: 'memory', url: 'redis://127.0.0.1:6379', prefix: 'switchyard:', cluster: false, opTimeoutMs: 2000 },
    workers: 1,
    log: { level: 'info', access: true },
  });
  t.notOk('preview' in config, 'no preview listener unless configured');
});

t.test('the example file of the spec loads as written', async (t) => {
  const text = `
listen:  { host: 0.0.0.0, port: 8080 }
preview: { host: 0.0.0.0, port: 8081 }
admin:   { host: 127.0.0.1, port: 9901, token: "\${SWITCHYARD_ADMIN_TOKEN:-}" }
pools:
  blue:
    version: "1.4.2"
    targets: ["http://127.0.0.1:3001", "http://127.0.0.1:3002"]
  green:
    version: "1.5.0"
    targets: ["http://127.0.0.1:4001"]
    healthCheck: { path: /ready }
routing:
  initial: { blue: 100, green: 0 }
  stickyCookie: switchyard-pool
  overrideHeader: x-switchyard-pool
  poolHeader: x-switchyard-pool
healthCheck: { path: /healthz, intervalMs: 2000, timeoutMs: 1000,
               healthyThreshold: 2, unhealthyThreshold: 3, expectStatus: "200-399" }
passive:  { consecutiveFailures: 5, ejectMs: 30000 }
retries:  { attempts: 2 }
timeouts: { connectMs: 2000, headersMs: 30000, keepAliveMs: 65000 }
drain:    { timeoutMs: 30000 }
shutdown: { graceMs: 30000 }
state:    { store: redis, url: "redis://127.0.0.1:6379", prefix: "switchyard:" }
log:      { level: info, access: true }
`;
  const config = parseConfigText(text, {});
  t.strictSame(config.preview, { host: '0.0.0.0', port: 8081 });
  t.equal(config.admin.token, '');
  t.strictSame(config.pools.map((pool) => [pool.name, pool.version, pool.targets]), [
    ['blue', '1.4.2', ['http://127.0.0.1:3001', 'http://127.0.0.1:3002']],
    ['green', '1.5.0', ['http://127.0.0.1:4001']],
  ]);
  t.strictSame(config.pools[1]!.healthCheck, { ...HEALTH_DEFAULTS, path: '/ready' });
  t.strictSame(config.routing, {
    initial: { blue: 100, green: 0 },
    stickyCookie: 'switchyard-pool',
    overrideHeader: 'x-switchyard-pool',
    poolHeader: 'x-switchyard-pool',
  });
  t.equal(config.state.store, 'redis');
  t.equal(parseConfigText(text, { SWITCHYARD_ADMIN_TOKEN: 's3cret' }).admin.token, 's3cret');
});

t.test('values given in the file override the defaults', async (t) => {
  const config = parseConfigText(`${BLUE}
listen: { host: 127.0.0.1, port: 80 }
admin: { host: 0.0.0.0, port: 9000, token: tok, metricsPublic: true }
healthCheck: { intervalMs: 500, expectStatus: "200" }
passive: { consecutiveFailures: 1, ejectMs: 0 }
retries: { attempts: 0 }
timeouts: { connectMs: 1, headersMs: 2, keepAliveMs: 3 }
drain: { timeoutMs: 0 }
shutdown: { graceMs: 10 }
state: { store: redis, url: "rediss://cache:6380", prefix: "sy:" }
log: { level: silent, access: false }
`, {});
  t.strictSame(config.listen, { host: '127.0.0.1', port: 80 });
  t.strictSame(config.admin, { host: '0.0.0.0', port: 9000, token: 'tok', metricsPublic: true });
  t.strictSame(config.healthCheck, { ...HEALTH_DEFAULTS, intervalMs: 500, expectStatus: '200' });
  t.strictSame(config.passive, { consecutiveFailures: 1, ejectMs: 0 });
  t.strictSame(config.retries, { attempts: 0 });
  t.strictSame(config.timeouts, { connectMs: 1, headersMs: 2, keepAliveMs: 3 });
  t.strictSame(config.drain, { timeoutMs: 0 });
  t.strictSame(config.shutdown, { graceMs: 10 });
  t.strictSame(config.state, { store: 'redis', url: 'rediss://cache:6380', prefix: 'sy:', cluster: false, opTimeoutMs: 2000 });
  t.strictSame(config.log, { level: 'silent', access: false });
});

t.test('pools keep file order; routing.initial defaults to blue, else the first pool', async (t) => {
  const noBlue = parseConfigText(`
pools:
  zed: { targets: ["http://127.0.0.1:3001"] }
  alpha: { targets: ["http://127.0.0.1:3002"] }
  mid: { targets: ["http://127.0.0.1:3003"] }
`, {});
  t.strictSame(noBlue.pools.map((pool) => pool.name), ['zed', 'alpha', 'mid']);
  t.strictSame(noBlue.routing.initial, { zed: 100, alpha: 0, mid: 0 });

  const blueSecond = parseConfigText(`
pools:
  green: { targets: ["http://127.0.0.1:3001"] }
  blue: { targets: ["http://127.0.0.1:3002"] }
`, {});
  t.strictSame(blueSecond.pools.map((pool) => pool.name), ['green', 'blue']);
  t.strictSame(blueSecond.routing.initial, { green: 0, blue: 100 });

  const explicit = parseConfigText(`
pools:
  blue: { targets: ["http://127.0.0.1:3001"] }
  green: { targets: ["http://127.0.0.1:3002"] }
routing: { initial: { blue: 25, green: 75 } }
`, {});
  t.strictSame(explicit.routing.initial, { blue: 25, green: 75 });
});

t.test('a pool healthCheck is merged over the top-level one, key by key', async (t) => {
  const config = parseConfigText(`
healthCheck: { path: /up, intervalMs: 500, expectStatus: "200-299" }
pools:
  blue:
    targets: ["http://127.0.0.1:3001"]
  green:
    targets: ["http://127.0.0.1:4001"]
    healthCheck: { path: /ready, unhealthyThreshold: 7 }
`, {});
  const top = { ...HEALTH_DEFAULTS, path: '/up', intervalMs: 500, expectStatus: '200-299' };
  t.strictSame(config.healthCheck, top);
  t.strictSame(config.pools[0]!.healthCheck, top);
  t.strictSame(config.pools[1]!.healthCheck, { ...top, path: '/ready', unhealthyThreshold: 7 });
});

t.test('targets are normalised to their origin', async (t) => {
  const config = parseConfigText(`
pools:
  blue:
    targets:
      - "http://127.0.0.1:3001/"
      - "HTTP://Example.COM:80"
      - "https://secure.example:443/"
      - "https://secure.example:8443"
      - "http://[::1]:3002"
`, {});
  t.strictSame(config.pools[0]!.targets, [
    'http://127.0.0.1:3001',
    'http://example.com',
    'https://secure.example',
    'https://secure.example:8443',
    'http://[::1]:3002',
  ]);
});

t.test('the result is deeply frozen', async (t) => {
  const config = parseConfigText(`${BLUE}routing: { initial: { blue: 100 } }\n`, {});
  for (const [name, value] of Object.entries({
    config,
    listen: config.listen,
    admin: config.admin,
    pools: config.pools,
    pool: config.pools[0],
    targets: config.pools[0]!.targets,
    poolHealthCheck: config.pools[0]!.healthCheck,
    healthCheck: config.healthCheck,
    routing: config.routing,
    initial: config.routing.initial,
    state: config.state,
    log: config.log,
  })) t.ok(Object.isFrozen(value), `${name} is frozen`);
  t.throws(() => { (config.listen as { port: number }).port = 1; }, TypeError);
  t.throws(() => { (config.pools[0]!.targets as string[]).push('http://x'); }, TypeError);
  t.throws(() => { (config.routing.initial as Record<string, number>).blue = 0; }, TypeError);
});

t.test('preview is optional; when given its defaults apply and its port must be free', async (t) => {
  t.equal(parseConfigText(BLUE, {}).preview, undefined);
  t.strictSame(parseConfigText(`preview: { host: 127.0.0.1 }\n${BLUE}`, {}).preview, { host: '127.0.0.1', port: 8081 });
  t.strictSame(parseConfigText(`preview: {}\n${BLUE}`, {}).preview, { host: '0.0.0.0', port: 8081 });
  // Without a preview block, 8081 is free for anything else.
  t.equal(parseConfigText(`listen: { port: 8081 }\n${BLUE}`, {}).listen.port, 8081);
  t.strictSame(refuse(`preview: { port: 8080 }\n${BLUE}`), ['preview.port: 8080 is already used by listen or admin']);
  t.strictSame(refuse(`preview: { port: 9901 }\n${BLUE}`), ['preview.port: 9901 is already used by listen or admin']);
  t.strictSame(refuse(`preview: { bogus: 1 }\n${BLUE}`), ['preview.bogus: unknown key']);
});

t.test('environment expansion inside the loader', async (t) => {
  t.test('numeric strings from the environment become numbers', async (t) => {
    const config = parseConfigText(`
listen:
  port: \${PORT}
admin:
  port: "\${ADMIN_PORT:-9999}"
retries: { attempts: "\${ATTEMPTS}" }
${BLUE}`, { PORT: '8181', ATTEMPTS: '3' });
    t.equal(config.listen.port, 8181);
    t.equal(config.admin.port, 9999);
    t.equal(config.retries.attempts, 3);
  });

  t.test('"true"/"false" from the environment become booleans', async (t) => {
    const config = parseConfigText(`log: { access: "\${ACCESS}" }\nadmin: { metricsPublic: "\${PUB:-true}" }\n${BLUE}`, { ACCESS: 'false' });
    t.equal(config.log.access, false);
    t.equal(config.admin.metricsPublic, true);
  });

  t.test('string keys stay strings even when the value looks numeric', async (t) => {
    const config = parseConfigText(`admin: { token: "\${TOKEN}" }\n${BLUE}`, { TOKEN: '12345' });
    t.equal(config.admin.token, '12345');
    t.equal(parseConfigText(`pools:\n  blue:\n    version: 2\n    targets: ["http://127.0.0.1:3001"]\n`, {}).pools[0]!.version, '2');
  });

  t.test('defaults, empty values, literals and variables in targets', async (t) => {
    const config = parseConfigText(`
admin: { token: "\${TOKEN:-fallback}" }
state: { prefix: "$\${literal}" }
pools:
  blue:
    targets: ["http://\${UP_HOST:-127.0.0.1}:\${UP_PORT}"]
`, { TOKEN: '', UP_PORT: '3005' });
    t.equal(config.admin.token, 'fallback', 'an empty variable takes the default');
    t.equal(config.state.prefix, '${literal}');
    t.strictSame(config.pools[0]!.targets, ['http://127.0.0.1:3005']);
  });

  t.test('an unset variable without default names the key path and the variable', async (t) => {
    t.strictSame(refuse(`listen:\n  port: \${PORT}\npools:\n  blue:\n    targets: ["\${UPSTREAM}"]\n`), [
      'listen.port: environment variable PORT is not set (use ${PORT:-default} for an optional value)',
      'pools.blue.targets[0]: environment variable UPSTREAM is not set (use ${UPSTREAM:-default} for an optional value)',
    ]);
  });

  t.test('a non-numeric environment value for a number is a type problem', async (t) => {
    t.strictSame(refuse(`listen:\n  port: \${PORT}\n${BLUE}`, { PORT: 'http' }), ['listen.port: expected integer']);
  });

  t.test('uses process.env by default', async (t) => {
    const name = 'SWITCHYARD_TEST_CONFIG_PORT';
    process.env[name] = '8282';
    t.teardown(() => { delete process.env[name]; });
    t.equal(parseConfigText(`listen: { port: "\${${name}}" }\n${BLUE}`).listen.port, 8282);
  });
});

t.test('unknown keys', async (t) => {
  t.strictSame(refuse(`foo: 1\n${BLUE}`), ['foo: unknown key']);
  t.strictSame(refuse(`listen: { port: 8080, foo: 1 }\n${BLUE}`), ['listen.foo: unknown key']);
  t.strictSame(refuse('pools:\n  blue:\n    bogus: 1\n    targets: ["http://127.0.0.1:3001"]\n'), ['pools.blue.bogus: unknown key']);
  t.strictSame(
    refuse('pools:\n  blue:\n    targets: ["http://127.0.0.1:3001"]\n    healthCheck: { pathh: /x }\n'),
    ['pools.blue.healthCheck.pathh: unknown key (did you mean path?)'],
  );
  t.strictSame(refuse(`routing: { sticky: x }\n${BLUE}`), ['routing.sticky: unknown key']);
  t.strictSame(refuse(`__proto__: { polluted: true }\n${BLUE}`), ['__proto__: unknown key']);
});

t.test('an unknown key close to a known one at the same place gets a "did you mean"', async (t) => {
  t.strictSame(refuse(`helthCheck: { path: /up }\n${BLUE}`), ['helthCheck: unknown key (did you mean healthCheck?)']);
  t.strictSame(refuse(`limits: { maxHeaderByte: 8192 }\n${BLUE}`), ['limits.maxHeaderByte: unknown key (did you mean maxHeaderBytes?)']);
  t.strictSame(refuse('pools:\n  blue:\n    target: ["http://127.0.0.1:3001"]\n'), [
    'pools.blue.target: unknown key (did you mean targets?)',
    'pools.blue.targets: required (or discover)',
  ]);
  t.strictSame(refuse(`state: { store: redis, opTimeout: 500 }\n${BLUE}`), ['state.opTimeout: unknown key (did you mean opTimeoutMs?)']);
  t.strictSame(refuse(`routing: { stickycookie: sy }\n${BLUE}`), ['routing.stickycookie: unknown key (did you mean stickyCookie?)']);
  // Only siblings are offered: `port` belongs in listen or admin, not at the top.
  t.strictSame(refuse(`port: 8080\n${BLUE}`), ['port: unknown key']);
  t.strictSame(refuse(`listen: { prot: 8080 }\n${BLUE}`), ['listen.prot: unknown key (did you mean port?)']);
});

t.test('problems come in file order, whichever check found them', async (t) => {
  // Semantic problem (routing) first in the file, schema problems after it, an unknown key last.
  t.strictSame(refuse(`
routing: { initial: { blue: 50 } }
pools:
  blue:
    targets: ["http://127.0.0.1:3001"]
  green:
    targets: ["http://127.0.0.1:3001"]
listen: { port: abc }
limits: { maxHeaderByte: 1 }
`), [
    'routing.initial: weights must sum to 100 (got 50)',
    'pools.green.targets[0]: duplicate target http://127.0.0.1:3001 (also pools.blue.targets[0])',
    'listen.port: expected integer',
    'limits.maxHeaderByte: unknown key (did you mean maxHeaderBytes?)',
  ]);
  // The same mistakes, the other way up: the list follows the file.
  t.strictSame(refuse(`
limits: { maxHeaderByte: 1 }
listen: { port: abc }
pools:
  blue:
    targets: ["http://127.0.0.1:3001"]
  green:
    targets: ["http://127.0.0.1:3001"]
routing: { initial: { blue: 50 } }
`), [
    'limits.maxHeaderByte: unknown key (did you mean maxHeaderBytes?)',
    'listen.port: expected integer',
    'pools.green.targets[0]: duplicate target http://127.0.0.1:3001 (also pools.blue.targets[0])',
    'routing.initial: weights must sum to 100 (got 50)',
  ]);
  // Pool names that look like numbers stay where the file has them (a JS object would sort them first).
  t.strictSame(refuse('pools:\n  zz:\n    targets: ["ftp://a"]\n  "10":\n    targets: []\n'), [
    'pools.zz.targets[0]: not an http or https URL (ftp://a)',
    'pools.10: pool name must match ^[a-z][a-z0-9-]{0,31}$',
    'pools.10.targets: at least one target is required (or discover)',
  ]);
});

t.test('a config object: its problems in its own key order', async (t) => {
  const document = { log: { level: 'loud' }, pools: { blue: { targets: ['nope'] } }, helthCheck: {} };
  t.strictSame(problemsOf(() => resolveConfig(document, {})), [
    'log.level: must be one of fatal, error, warn, info, debug, trace, silent',
    'pools.blue.targets[0]: not a URL ("nope")',
    'helthCheck: unknown key (did you mean healthCheck?)',
  ]);
  t.strictSame(document, { log: { level: 'loud' }, pools: { blue: { targets: ['nope'] } }, helthCheck: {} }, 'the input is not modified');
});

t.test('bad targets', async (t) => {
  t.strictSame(refuse(`${BLUE}  green:\n    targets: ["not a url"]\n`), ['pools.green.targets[0]: not a URL ("not a url")']);
  t.strictSame(refuse('pools:\n  blue:\n    targets: ["ftp://127.0.0.1:21"]\n'),
    ['pools.blue.targets[0]: not an http or https URL (ftp://127.0.0.1:21)']);
  t.strictSame(refuse('pools:\n  blue:\n    targets: ["http://127.0.0.1:3001", "http://127.0.0.1:3002/api"]\n'),
    ['pools.blue.targets[1]: a target is an origin only, without path or query (http://127.0.0.1:3002/api)']);
  t.strictSame(refuse('pools:\n  blue:\n    targets: ["http://127.0.0.1:3001/?x=1"]\n'),
    ['pools.blue.targets[0]: a target is an origin only, without path or query (http://127.0.0.1:3001/?x=1)']);
  t.strictSame(refuse('pools:\n  blue:\n    targets: []\n'),
    ['pools.blue.targets: at least one target is required (or discover)']);
  t.strictSame(refuse('pools:\n  blue:\n    version: "1"\n'), ['pools.blue.targets: required (or discover)']);
  t.strictSame(refuse('pools:\n  blue:\n    targets: "http://127.0.0.1:3001"\n'), ['pools.blue.targets: expected array'],
    'a lone string is not silently turned into a list');
});

t.test('duplicate targets, within a pool and across pools', async (t) => {
  t.strictSame(refuse('pools:\n  blue:\n    targets: ["http://127.0.0.1:3001", "http://127.0.0.1:3001/"]\n'), [
    'pools.blue.targets[1]: duplicate target http://127.0.0.1:3001 (also pools.blue.targets[0])',
  ]);
  t.strictSame(refuse(`${BLUE}  green:\n    targets: ["http://127.0.0.1:3002", "HTTP://127.0.0.1:3001"]\n`), [
    'pools.green.targets[1]: duplicate target http://127.0.0.1:3001 (also pools.blue.targets[0])',
  ]);
});

t.test('pool names and pool count', async (t) => {
  t.strictSame(refuse('pools:\n  Blue:\n    targets: ["http://127.0.0.1:3001"]\n'),
    ['pools.Blue: pool name must match ^[a-z][a-z0-9-]{0,31}$']);
  t.strictSame(refuse('pools: {}\n'), ['pools: at least one pool is required']);
  t.strictSame(refuse('listen: { port: 8080 }\n'), ['pools: expected required property']);
  t.strictSame(refuse('pools: [a, b]\n'), ['pools: expected object']);
  t.strictSame(refuse('pools:\n  blue:\n'), ['pools.blue: expected object']);
});

t.test('routing.initial', async (t) => {
  const two = `${BLUE}  green:\n    targets: ["http://127.0.0.1:4001"]\n`;
  t.strictSame(refuse(`${two}routing: { initial: { blue: 99, green: 0 } }\n`), ['routing.initial: weights must sum to 100 (got 99)']);
  t.strictSame(refuse(`${two}routing: { initial: { blue: 100, red: 0 } }\n`), ['routing.initial.red: no pool named red']);
  t.strictSame(refuse(`${two}routing: { initial: { blue: 99.5, green: 0.5 } }\n`), [
    'routing.initial.blue: expected integer',
    'routing.initial.green: expected integer',
  ], 'weights are not silently truncated');
  t.strictSame(refuse(`${two}routing: { initial: { blue: 150, green: -50 } }\n`),
    ['routing.initial.blue: weight must be an integer from 0 to 100 (got 150)']);
  t.strictSame(refuse(`${two}routing: { initial: { blue: lots } }\n`), ['routing.initial.blue: expected integer']);
  t.strictSame(parseConfigText(`${two}routing: { initial: { green: 100 } }\n`, {}).routing.initial, { green: 100 },
    'pools left out of routing.initial are allowed');
});

t.test('admin listener safety and port clashes', async (t) => {
  t.strictSame(refuse(`admin: { host: 0.0.0.0 }\n${BLUE}`),
    ['admin.token: required when admin.host (0.0.0.0) is not a loopback address']);
  t.strictSame(refuse(`admin: { host: 0.0.0.0, token: "\${TOKEN:-}" }\n${BLUE}`),
    ['admin.token: required when admin.host (0.0.0.0) is not a loopback address']);
  t.equal(parseConfigText(`admin: { host: 0.0.0.0, token: t }\n${BLUE}`, {}).admin.host, '0.0.0.0');
  t.equal(parseConfigText(`admin: { host: localhost }\n${BLUE}`, {}).admin.host, 'localhost');
  t.strictSame(refuse(`listen: { port: 9000 }\nadmin: { port: 9000 }\n${BLUE}`), ['admin.port: 9000 is already listen.port']);
  t.strictSame(refuse(`listen: { port: 9901 }\n${BLUE}`), ['admin.port: 9901 is already listen.port']);
  t.equal(parseConfigText(`listen: { port: 0 }\nadmin: { port: 0 }\n${BLUE}`, {}).listen.port, 0, 'two ephemeral ports do not clash');
});

t.test('health-check expectStatus, top-level and per pool', async (t) => {
  t.strictSame(refuse(`healthCheck: { expectStatus: "abc" }\n${BLUE}`),
    ['healthCheck.expectStatus: not a status list like "200-399" or "200,204" ("abc")']);
  t.strictSame(refuse('pools:\n  blue:\n    targets: ["http://127.0.0.1:3001"]\n    healthCheck: { expectStatus: "600" }\n'),
    ['pools.blue.healthCheck.expectStatus: not a status list like "200-399" or "200,204" ("600")']);
  t.strictSame(refuse(`healthCheck: { expectStatus: "399-200" }\n${BLUE}`),
    ['healthCheck.expectStatus: not a status list like "200-399" or "200,204" ("399-200")']);
  t.strictSame(refuse(`healthCheck: { path: healthz }\n${BLUE}`), ['healthCheck.path: expected string to match \'^/\'']);
});

t.test('state store', async (t) => {
  t.strictSame(refuse(`state: { store: redis, url: "http://127.0.0.1:6379" }\n${BLUE}`),
    ['state.url: not a redis:// or rediss:// URL (http://127.0.0.1:6379)']);
  t.strictSame(refuse(`state: { store: postgres }\n${BLUE}`), ['state.store: must be one of memory, redis']);
  t.equal(parseConfigText(`state: { store: memory, url: "http://ignored" }\n${BLUE}`, {}).state.store, 'memory');
  t.equal(parseConfigText(`state: { store: redis }\n${BLUE}`, {}).state.url, 'redis://127.0.0.1:6379');
});

t.test('wrong types', async (t) => {
  t.strictSame(refuse(`listen: { port: "abc" }\n${BLUE}`), ['listen.port: expected integer']);
  t.strictSame(refuse(`log: { level: loud }\n${BLUE}`), ['log.level: must be one of fatal, error, warn, info, debug, trace, silent']);
  t.strictSame(refuse(`listen: { port: 80.5 }\n${BLUE}`), ['listen.port: expected integer'], 'not truncated to 80');
  t.strictSame(refuse(`listen: { port: true }\n${BLUE}`), ['listen.port: expected integer'], 'not read as 1');
  t.strictSame(refuse(`listen: { port: 70000 }\n${BLUE}`), ['listen.port: expected integer to be less or equal to 65535']);
  t.strictSame(refuse(`log: { access: 1 }\n${BLUE}`), ['log.access: expected boolean']);
  t.strictSame(refuse(`retries: { attempts: 11 }\n${BLUE}`), ['retries.attempts: expected integer to be less or equal to 10']);
  t.strictSame(refuse(`timeouts: { connectMs: 0 }\n${BLUE}`), ['timeouts.connectMs: expected integer to be greater or equal to 1']);
  t.strictSame(refuse(`listen: 8080\n${BLUE}`), ['listen: expected object']);
  t.strictSame(refuse(`listen:\n${BLUE}`), ['listen: expected object']);
  t.strictSame(refuse(`routing: { stickyCookie: "" }\n${BLUE}`),
    ['routing.stickyCookie: expected string length greater or equal to 1']);
});

t.test('several problems are all listed, one line per mistake, in file order', async (t) => {
  t.strictSame(refuse(`
foo: 1
listen: { port: abc }
admin: { host: 0.0.0.0 }
log: { level: loud }
healthCheck: { expectStatus: "600" }
pools:
  blue:
    targets: ["ftp://127.0.0.1:21", "http://127.0.0.1:3001/x"]
  Green:
    targets: []
  red:
    targets: ["http://127.0.0.1:5001"]
    weight: 3
routing: { initial: { blue: 100, purple: 0 } }
`), [
    'foo: unknown key',
    'listen.port: expected integer',
    // admin.token is not in the file: it is reported where it would go, at the end of `admin`.
    'admin.token: required when admin.host (0.0.0.0) is not a loopback address',
    'log.level: must be one of fatal, error, warn, info, debug, trace, silent',
    'healthCheck.expectStatus: not a status list like "200-399" or "200,204" ("600")',
    'pools.blue.targets[0]: not an http or https URL (ftp://127.0.0.1:21)',
    'pools.blue.targets[1]: a target is an origin only, without path or query (http://127.0.0.1:3001/x)',
    'pools.Green: pool name must match ^[a-z][a-z0-9-]{0,31}$',
    'pools.Green.targets: at least one target is required (or discover)',
    'pools.red.weight: unknown key',
    'routing.initial.purple: no pool named purple',
  ]);
});

t.test('YAML that does not parse, or is not a mapping', async (t) => {
  t.strictSame(refuse('pools:\n  blue: [\n'),
    ['f.yaml:3:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]']);
  t.strictSame(problemsOf(() => parseConfigText('pools:\n  blue: [\n', {})),
    ['config:3:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    'the source defaults to "config"');
  t.strictSame(refuse('pools:\n  blue:\n    targets: ["http://127.0.0.1:3001"]\n  blue:\n    targets: ["http://127.0.0.1:3002"]\n'),
    ['f.yaml:4:3: YAML syntax error: Map keys must be unique']);
  t.strictSame(refuse('- a\n- b\n'), ['(root): the config must be a mapping of keys']);
  t.strictSame(refuse('just a string\n'), ['(root): the config must be a mapping of keys']);
  t.strictSame(refuse(''), ['pools: expected required property'], 'an empty file is an empty mapping');
});

t.test('resolveConfig validates an already-parsed document', async (t) => {
  const document = { pools: { blue: { targets: ['http://127.0.0.1:3001/'] } }, listen: { port: '${PORT}' } };
  const config = resolveConfig(document, { PORT: '8123' });
  t.equal(config.listen.port, 8123);
  t.strictSame(config.pools[0]!.targets, ['http://127.0.0.1:3001']);
  t.strictSame(document, { pools: { blue: { targets: ['http://127.0.0.1:3001/'] } }, listen: { port: '${PORT}' } },
    'the input is not modified');
  t.notOk(Object.isFrozen(document));
  for (const bad of [null, undefined, 42, 'text', [], [{ pools: {} }]]) {
    t.strictSame(problemsOf(() => resolveConfig(bad, {})), ['(root): the config must be a mapping of keys'], JSON.stringify(bad));
  }
});

t.test('ConfigError carries every problem in its message too', async (t) => {
  try {
    parseConfigText(`foo: 1\nbar: 2\n${BLUE}`, {});
    t.fail('should throw');
  } catch (err) {
    t.type(err, ConfigError);
    t.equal((err as ConfigError).name, 'ConfigError');
    t.equal((err as Error).message, 'invalid config:\n  foo: unknown key\n  bar: unknown key');
  }
});

t.test('loadConfigFile', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  t.test('reads and validates a file, expanding the given environment', async (t) => {
    const path = write('ok.yaml', `listen: { port: "\${PORT}" }\n${BLUE}`);
    const config = loadConfigFile(path, { PORT: '8001' });
    t.equal(config.listen.port, 8001);
    t.strictSame(config.pools.map((pool) => pool.name), ['blue']);
  });

  t.test('uses process.env by default', async (t) => {
    const name = 'SWITCHYARD_TEST_CONFIG_TARGET';
    process.env[name] = 'http://127.0.0.1:3999';
    t.teardown(() => { delete process.env[name]; });
    const path = write('env.yaml', `pools:\n  blue:\n    targets: ["\${${name}}"]\n`);
    t.strictSame(loadConfigFile(path).pools[0]!.targets, ['http://127.0.0.1:3999']);
  });

  t.test('a missing file', async (t) => {
    const path = join(dir, 'nope.yaml');
    t.strictSame(problemsOf(() => loadConfigFile(path, {})), [`${path}: file not found`]);
  });

  t.test('a path that is not a readable file', async (t) => {
    const path = join(dir, 'a-directory');
    mkdirSync(path);
    const problems = problemsOf(() => loadConfigFile(path, {}));
    t.equal(problems.length, 1);
    t.match(problems[0], new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*EISDIR`));
  });

  t.test('a YAML syntax error names file:line:col', async (t) => {
    const path = write('broken.yaml', 'listen:\n  port: 8080\npools:\n  blue: [\n');
    t.strictSame(problemsOf(() => loadConfigFile(path, {})), [
      `${path}:5:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    ]);
  });

  t.test('a duplicate key names file:line:col', async (t) => {
    const path = write('dup.yaml', `listen: { port: 1 }\n${BLUE}listen: { port: 2 }\n`);
    t.strictSame(problemsOf(() => loadConfigFile(path, {})), [`${path}:5:1: YAML syntax error: Map keys must be unique`]);
  });

  t.test('semantic problems come back with key paths', async (t) => {
    const path = write('bad.yaml', `${BLUE}  green:\n    targets: ["not a url"]\n`);
    t.strictSame(problemsOf(() => loadConfigFile(path, {})), ['pools.green.targets[0]: not a URL ("not a url")']);
  });
});

t.test('SPEC §14: pools.NAME.protocol and healthCheck.type', async (t) => {
  const pool = (protocol: string, target: string, extra = '') => `pools:\n  blue:\n    protocol: ${protocol}\n    targets: ["${target}"]\n${extra}`;
  t.equal(parseConfigText(pool('h2c', 'http://127.0.0.1:50051'), {}).pools[0]!.protocol, 'h2c');
  t.equal(parseConfigText(pool('h2', 'https://api.internal:443'), {}).pools[0]!.protocol, 'h2');
  t.strictSame(refuse(pool('h2c', 'https://127.0.0.1:50051')), ['pools.blue.targets[0]: protocol h2c needs http:// targets (https://127.0.0.1:50051)']);
  t.strictSame(refuse(pool('h2', 'http://127.0.0.1:50051')), ['pools.blue.targets[0]: protocol h2 needs https:// targets (http://127.0.0.1:50051)']);
  const h3 = refuse(pool('h3', 'http://127.0.0.1:50051'));
  t.equal(h3.length, 1);
  t.match(h3[0], /^pools\.blue\.protocol: .*http1.*h2c.*h2/, 'the allowed values are named');
  const discover = 'pools:\n  blue:\n    protocol: h2\n    discover: { dns: app.internal, port: 443, scheme: http }\n';
  t.strictSame(refuse(discover), ['pools.blue.discover.scheme: protocol h2 needs scheme https']);

  const grpc = parseConfigText(`${pool('h2c', 'http://127.0.0.1:50051')}    healthCheck: { type: grpc, grpcService: pkg.Greeter }\n`, {});
  t.equal(grpc.pools[0]!.healthCheck.type, 'grpc');
  t.equal(grpc.pools[0]!.healthCheck.grpcService, 'pkg.Greeter');
  t.equal(parseConfigText(BLUE, {}).pools[0]!.healthCheck.type, 'http', 'http by default');
  const tcp = refuse(`healthCheck: { type: tcp }\n${BLUE}`);
  t.equal(tcp.length, 1);
  t.match(tcp[0], /^healthCheck\.type: .*http.*grpc/);
});

t.test('a gRPC health check needs an HTTP/2 pool', async (t) => {
  t.strictSame(refuse(`pools:\n  blue:\n    targets: ["http://127.0.0.1:50051"]\n    healthCheck: { type: grpc }\n`),
    ['pools.blue.healthCheck.type: grpc checks need pools.blue.protocol h2c or h2 (gRPC runs over HTTP/2; it is http1)']);
  t.strictSame(refuse(`healthCheck: { type: grpc }\npools:\n  blue:\n    protocol: http1\n    targets: ["http://127.0.0.1:50051"]\n`),
    ['healthCheck.type: grpc checks need pools.blue.protocol h2c or h2 (gRPC runs over HTTP/2; it is http1)']);
  t.equal(parseConfigText(`healthCheck: { type: grpc }\npools:\n  blue:\n    protocol: h2c\n    targets: ["http://127.0.0.1:50051"]\n`, {}).pools[0]!.healthCheck.type, 'grpc');
});

t.test('SPEC §15 workers: a count from 1 to 256 or "auto"; anything else named at its key', async (t) => {
  const workers = (value: string, env: NodeJS.ProcessEnv = {}) => parseConfigText(`workers: ${value}\n${BLUE}`, env).workers;
  t.equal(workers('2'), 2);
  t.equal(workers('auto'), 'auto');
  t.equal(workers('${WORKERS}', { WORKERS: '4' }), 4, 'a count from the environment');
  for (const bad of ['0', '-1', '1.5', '300', 'many', 'true', '[2]']) {
    t.strictSame(refuse(`workers: ${bad}\n${BLUE}`), ['workers: must be a whole number from 1 to 256, or "auto"'], `workers: ${bad}`);
  }
});
