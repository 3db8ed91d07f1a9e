// The checks the schema cannot express, called directly on a schema-shaped file.
import t from 'tap';
import type { RawConfig } from '../../src/config/schema.js';
import { isLoopback, semanticIssues, semanticProblems } from '../../src/config/validate.js';

const HEALTH = {
  path: '/healthz', intervalMs: 2000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 3, expectStatus: '200-399',
};

/** A valid file with every default; `change` edits a copy before it is checked. */
function raw(change: (config: RawConfig) => void = () => {}): RawConfig {
  const config: RawConfig = {
    listen: { host: '0.0.0.0', port: 8080 },
    admin: { host: '127.0.0.1', port: 9901, token: '', metricsPublic: false },
    pools: {
      blue: { targets: ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'] },
      green: { targets: ['http://127.0.0.1:4001'] },
    },
    routing: {},
    healthCheck: { ...HEALTH, type: 'http', grpcService: '' },
    slowStart: { windowMs: 0, aggression: 1, minWeightPercent: 10 },
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
  };
  change(config);
  return config;
}

const STATUS_HINT = (text: string) => `not a status list like "200-399" or "200,204" (${JSON.stringify(text)})`;

t.test('a valid file has no problems', async (t) => {
  t.strictSame(semanticProblems(raw()), []);
  t.strictSame(semanticIssues(raw()), []);
});

t.test('at least one pool', async (t) => {
  t.strictSame(semanticProblems(raw((c) => { c.pools = {}; })), ['pools: at least one pool is required']);
});

t.test('pool names', async (t) => {
  const named = (name: string) => raw((c) => { c.pools = { [name]: { targets: ['http://127.0.0.1:3001'] } }; });
  for (const name of ['a', 'blue', 'blue-2', 'canary-v2', `a${'b'.repeat(31)}`]) {
    t.strictSame(semanticProblems(named(name)), [], `${name} is fine`);
  }
  for (const name of ['Blue', '1blue', '-blue', 'blue_2', 'blue.2', '', `a${'b'.repeat(32)}`]) {
    t.strictSame(semanticProblems(named(name)), [`pools.${name}: pool name must match ^[a-z][a-z0-9-]{0,31}$`], `${name} is refused`);
  }
});

t.test('target URLs', async (t) => {
  const target = (url: string) => semanticProblems(raw((c) => { c.pools = { blue: { targets: [url] } }; }));
  for (const url of ['http://127.0.0.1:3001', 'https://app.internal', 'http://[::1]:8080', 'http://host/']) {
    t.strictSame(target(url), [], url);
  }
  t.strictSame(target('not a url'), ['pools.blue.targets[0]: not a URL ("not a url")']);
  t.strictSame(target('127.0.0.1:3001'), ['pools.blue.targets[0]: not a URL ("127.0.0.1:3001")']);
  t.strictSame(target('localhost:3001'), ['pools.blue.targets[0]: not an http or https URL (localhost:3001)']);
  t.strictSame(target(''), ['pools.blue.targets[0]: not a URL ("")']);
  t.strictSame(target('ftp://files:21'), ['pools.blue.targets[0]: not an http or https URL (ftp://files:21)']);
  t.strictSame(target('ws://h:1'), ['pools.blue.targets[0]: not an http or https URL (ws://h:1)']);
  for (const url of ['http://h:1/api', 'http://h:1/?q=1', 'http://h:1/#top', 'http://h:1/a/b/']) {
    t.strictSame(target(url), [`pools.blue.targets[0]: a target is an origin only, without path or query (${url})`]);
  }
  t.strictSame(target('http://user:pw@h:1'), ['pools.blue.targets[0]: credentials in a target URL are not supported (http://user:pw@h:1)']);
});

t.test('duplicate targets are compared by origin, within and across pools', async (t) => {
  t.strictSame(semanticProblems(raw((c) => {
    c.pools = {
      blue: { targets: ['http://127.0.0.1:3001', 'http://127.0.0.1:3001/'] },
      green: { targets: ['http://localhost:4001', 'HTTP://127.0.0.1:3001', 'http://LOCALHOST:4001'] },
    };
  })), [
    'pools.blue.targets[1]: duplicate target http://127.0.0.1:3001 (also pools.blue.targets[0])',
    'pools.green.targets[1]: duplicate target http://127.0.0.1:3001 (also pools.blue.targets[0])',
    'pools.green.targets[2]: duplicate target http://localhost:4001 (also pools.green.targets[0])',
  ]);
  t.strictSame(semanticProblems(raw((c) => {
    c.pools = { blue: { targets: ['http://h:80', 'http://h'] }, green: { targets: ['https://h:443', 'https://h'] } };
  })), [
    'pools.blue.targets[1]: duplicate target http://h (also pools.blue.targets[0])',
    'pools.green.targets[1]: duplicate target https://h (also pools.green.targets[0])',
  ], 'default ports are the same origin; http and https are not');
});

t.test('expectStatus, top-level and per pool', async (t) => {
  t.strictSame(semanticProblems(raw((c) => { c.healthCheck.expectStatus = 'abc'; })), [`healthCheck.expectStatus: ${STATUS_HINT('abc')}`]);
  t.strictSame(semanticProblems(raw((c) => { c.pools.green!.healthCheck = { expectStatus: '600' }; })),
    [`pools.green.healthCheck.expectStatus: ${STATUS_HINT('600')}`]);
  t.strictSame(semanticProblems(raw((c) => { c.pools.green!.healthCheck = { path: '/ready' }; })), [],
    'a pool without its own expectStatus uses the top-level one');
  t.strictSame(semanticProblems(raw((c) => {
    c.healthCheck.expectStatus = '399-200';
    c.pools.blue!.healthCheck = { expectStatus: '200-299,404' };
    c.pools.green!.healthCheck = { expectStatus: '' };
  })), [`pools.green.healthCheck.expectStatus: ${STATUS_HINT('')}`, `healthCheck.expectStatus: ${STATUS_HINT('399-200')}`]);
});

t.test('routing.initial', async (t) => {
  const initial = (weights: Record<string, number>) => semanticProblems(raw((c) => { c.routing.initial = weights; }));
  t.strictSame(initial({ blue: 100, green: 0 }), []);
  t.strictSame(initial({ blue: 30, green: 70 }), []);
  t.strictSame(initial({ green: 100 }), [], 'pools left out count as 0');
  t.strictSame(initial({ blue: 99, green: 0 }), ['routing.initial: weights must sum to 100 (got 99)']);
  t.strictSame(initial({ blue: 60, green: 60 }), ['routing.initial: weights must sum to 100 (got 120)']);
  t.strictSame(initial({}), ['routing.initial: weights must sum to 100 (got 0)']);
  t.strictSame(initial({ blue: 100, red: 0 }), ['routing.initial.red: no pool named red']);
  t.strictSame(initial({ blue: 99.5, green: 0.5 }), ['routing.initial.blue: weight must be an integer from 0 to 100 (got 99.5)']);
  t.strictSame(initial({ blue: 150, green: -50 }), ['routing.initial.blue: weight must be an integer from 0 to 100 (got 150)']);
  t.strictSame(initial({ blue: 100, green: -0.5 }), ['routing.initial.green: weight must be an integer from 0 to 100 (got -0.5)']);
});

t.test('the admin listener needs a token off loopback', async (t) => {
  const admin = (host: string, token = '') => semanticProblems(raw((c) => { c.admin.host = host; c.admin.token = token; }));
  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) t.strictSame(admin(host), [], host);
  for (const host of ['0.0.0.0', '::', '10.0.0.1', 'admin.example.com']) {
    t.strictSame(admin(host), [`admin.token: required when admin.host (${host}) is not a loopback address`], host);
    t.strictSame(admin(host, 'secret'), [], `${host} with a token`);
  }
});

t.test('listeners may not share a port', async (t) => {
  t.strictSame(semanticProblems(raw((c) => { c.admin.port = 8080; })), ['admin.port: 8080 is already listen.port']);
  t.strictSame(semanticProblems(raw((c) => { c.listen.port = 0; c.admin.port = 0; })), [], 'ephemeral ports never clash');
  t.strictSame(semanticProblems(raw((c) => { c.preview = { host: '0.0.0.0', port: 8081 }; })), []);
  t.strictSame(semanticProblems(raw((c) => { c.preview = { host: '0.0.0.0', port: 8080 }; })),
    ['preview.port: 8080 is already used by listen or admin']);
  t.strictSame(semanticProblems(raw((c) => { c.preview = { host: '0.0.0.0', port: 9901 }; })),
    ['preview.port: 9901 is already used by listen or admin']);
  t.strictSame(semanticProblems(raw((c) => { c.listen.port = 0; c.preview = { host: '0.0.0.0', port: 0 }; })), []);
});

t.test('a redis store needs a redis URL', async (t) => {
  const state = (store: 'memory' | 'redis', url: string) => semanticProblems(raw((c) => { c.state = { store, url, prefix: 'p:', cluster: false, opTimeoutMs: 2000 }; }));
  t.strictSame(state('redis', 'redis://127.0.0.1:6379'), []);
  t.strictSame(state('redis', 'rediss://cache.internal:6380/2'), []);
  t.strictSame(state('redis', 'http://127.0.0.1:6379'), ['state.url: not a redis:// or rediss:// URL (http://127.0.0.1:6379)']);
  t.strictSame(state('redis', '127.0.0.1:6379'), ['state.url: not a redis:// or rediss:// URL (127.0.0.1:6379)']);
  t.strictSame(state('memory', 'http://ignored'), [], 'the URL is not used by the memory store');
});

t.test('every problem is listed, not only the first', async (t) => {
  t.strictSame(semanticProblems(raw((c) => {
    c.pools = { Blue: { targets: ['ftp://x'] }, green: { targets: ['http://127.0.0.1:4001', 'http://127.0.0.1:4001'] } };
    c.routing.initial = { blue: 100 };
    c.admin = { host: '0.0.0.0', port: 8080, token: '', metricsPublic: false };
    c.state = { store: 'redis', url: 'nope', prefix: '', cluster: false, opTimeoutMs: 2000 };
  })), [
    'pools.Blue: pool name must match ^[a-z][a-z0-9-]{0,31}$',
    'pools.Blue.targets[0]: not an http or https URL (ftp://x)',
    'pools.green.targets[1]: duplicate target http://127.0.0.1:4001 (also pools.green.targets[0])',
    'routing.initial.blue: no pool named blue',
    'admin.token: required when admin.host (0.0.0.0) is not a loopback address',
    'admin.port: 8080 is already listen.port',
    'state.url: not a redis:// or rediss:// URL (nope)',
  ]);
});

t.test('semanticIssues keeps the key path apart from the message', async (t) => {
  t.strictSame(semanticIssues(raw((c) => { c.admin.port = 8080; })), [{ path: 'admin.port', message: '8080 is already listen.port' }]);
});

t.test('a file of the wrong shape does not make the checks throw', async (t) => {
  const broken = {
    listen: 'nope', admin: null, pools: { blue: null, green: { targets: 'x' }, red: { targets: [1, 'http://h:1'], healthCheck: 5 } },
    routing: { initial: 'all' }, healthCheck: [], state: { store: 'redis', url: 6379 },
  } as unknown as RawConfig;
  t.strictSame(semanticProblems(broken), []);
  t.strictSame(semanticProblems({} as unknown as RawConfig), []);
  t.strictSame(semanticProblems({ pools: { Bad: { targets: ['x'] } } } as unknown as RawConfig), [
    'pools.Bad: pool name must match ^[a-z][a-z0-9-]{0,31}$',
    'pools.Bad.targets[0]: not a URL ("x")',
  ]);
});

t.test('isLoopback', async (t) => {
  for (const host of ['127.0.0.1', '127.1.2.3', '127.255.255.255', '::1', '[::1]', 'localhost']) t.ok(isLoopback(host), host);
  for (const host of ['0.0.0.0', '10.0.0.1', '128.0.0.1', '::', '', 'example.com', '127.example.com', '1.127.0.0.1']) {
    t.notOk(isLoopback(host), host || '(empty)');
  }
});
