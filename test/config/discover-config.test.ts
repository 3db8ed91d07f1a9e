// `pools.NAME.discover` and `resolver` (SPEC §12): defaults, what a pool may omit, and every bad
// input reported with its key path (check-config exits 2 naming each one).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfigText } from '../../src/config/load.js';
import { isResolverServer } from '../../src/config/validate.js';
import { ConfigError } from '../../src/errors.js';
import { spawnCli } from '../helpers/cli.js';

const problems = (text: string): string[] => {
  try {
    parseConfigText(text, {});
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

t.test('defaults; targets optional beside discover; resolver servers kept', async (t) => {
  const config = parseConfigText(`pools:
  blue: { discover: { dns: app.switchyard.test, port: 8000 } }
  green: { targets: ["http://127.0.0.1:4001"], discover: { dns: _http._tcp.app.test, type: SRV, scheme: https } }
resolver: { servers: ["127.0.0.1:5353", "[::1]:53", "10.0.0.2"] }
`, {});
  const [blue, green] = config.pools;
  t.strictSame(blue!.targets, []);
  t.strictSame(blue!.discover, { dns: 'app.switchyard.test', port: 8000, scheme: 'http', type: 'A', refreshMs: 30000, holdMs: 300000 });
  t.strictSame(green!.targets, ['http://127.0.0.1:4001']);
  t.equal(green!.discover!.type, 'SRV');
  t.equal(green!.discover!.port, undefined, 'SRV records carry their ports');
  t.strictSame(config.resolver.servers, ['127.0.0.1:5353', '[::1]:53', '10.0.0.2']);
  t.strictSame(parseConfigText('pools: { blue: { targets: ["http://a:1"] } }', {}).resolver, { servers: [] });
  t.equal(parseConfigText('pools: { blue: { targets: ["http://a:1"] } }', {}).pools[0]!.discover, undefined);
});

const BAD = `pools:
  blue: { discover: { port: 8000 } }
  green: { discover: { dns: app.test, port: 0 } }
  red: { discover: { dns: app.test, port: 80, type: MX } }
  gray: {}
  pink: { targets: [] }
  teal: { discover: { dns: app.test } }
resolver: { servers: ["not-an-ip", "1.2.3.4:99999", "127.0.0.1:5353"] }
`;

t.test('bad inputs: each key path named', async (t) => {
  const found = problems(BAD);
  for (const path of ['pools.blue.discover.dns', 'pools.green.discover.port', 'pools.red.discover.type', 'pools.gray.targets', 'pools.pink.targets',
    'pools.teal.discover.port', 'resolver.servers[0]', 'resolver.servers[1]']) {
    t.ok(found.some((line) => line.startsWith(`${path}:`)), `${path} in ${JSON.stringify(found)}`);
  }
  t.notOk(found.some((line) => line.startsWith('resolver.servers[2]')), 'a good server is not reported');
  t.match(found.find((line) => line.startsWith('pools.red.discover.type'))!, /A\+AAAA|SRV|allowed/);
  t.ok(found.includes('pools.gray.targets: required (or discover)'));
  t.ok(found.includes('pools.pink.targets: at least one target is required (or discover)'));
});

t.test('resolver server forms', async (t) => {
  for (const good of ['1.2.3.4', '1.2.3.4:53', '::1', '[::1]:5353', '[fe80::1]:53']) t.ok(isResolverServer(good), good);
  for (const bad of ['not-an-ip', '1.2.3.4:0', '1.2.3.4:70000', '[1.2.3.4]:53', '::1:53x', 'host:53', '']) t.notOk(isResolverServer(bad), bad);
});

t.test('check-config exits 2 naming the paths', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-discover-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'bad.yaml');
  writeFileSync(path, BAD);
  const run = spawnCli(['check-config', path]);
  t.equal(await run.exited, 2, run.output());
  for (const key of ['pools.blue.discover.dns', 'pools.green.discover.port', 'pools.red.discover.type', 'pools.gray.targets', 'resolver.servers[0]']) {
    t.match(run.output(), key);
  }
});
