// `switchyard reload` and `switchyard instances` against a real Switchyard started from a
// config file: a good file is applied and summarised; a bad one exits 1 listing every
// problem with the running config kept.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { LogSink } from '../helpers/log-sink.js';
import { startUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/http-client.js';
import { loadConfigFile } from '../../src/config/load.js';
import { Switchyard } from '../../src/main.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-reload-'));

t.test('reload applies a changed file and prints what changed; a bad file exits 1 and changes nothing', async (t) => {
  const [blue1, blue2, green] = [await startUpstream('blue'), await startUpstream('blue'), await startUpstream('green')];
  const file = join(dir, 'switchyard.yaml');
  const write = (blueTargets: string[], extra = '', greenExtra = '') => writeFileSync(file, `
listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
pools:
  blue: { version: "1.0.0", targets: [${blueTargets.map((url) => `"${url}"`).join(', ')}] }
  green: { version: "2.0.0", targets: ["${green.url}"]${greenExtra} }
log: { access: false }
${extra}`);
  write([blue1.url]);
  const switchyard = await Switchyard.start(loadConfigFile(file, {}), { configPath: file, logDestination: new LogSink() });
  t.teardown(async () => {
    await switchyard.close();
    await Promise.all([blue1.close(), blue2.close(), green.close()]);
  });
  const env = { SWITCHYARD_ADMIN_URL: switchyard.adminUrl };
  const targets = () => switchyard.pools.pools.map((pool) => `${pool.name}:${pool.targets.map((target) => target.url).join(',')}`);

  const same = await cli(['reload'], env);
  t.equal(same.code, 0, same.err);
  t.equal(same.out.trim(), 'config reloaded: no pool or target changed');

  // green starts discovering too (the answer never comes: no such resolver; its file target stays).
  write([blue1.url], `resolver: { servers: ["127.0.0.1:1"] }`, `, discover: { dns: green.switchyard.test, port: 8000 }`);
  const discovering = await cli(['reload'], env);
  t.equal(discovering.code, 0, discovering.err);
  t.equal(discovering.out.trim(), 'config reloaded\n  discovery changed (targets follow the next answer): green');
  write([blue1.url]);
  t.match((await cli(['reload'], env)).out, /discovery changed .*: green/, 'and when it stops');

  write([blue1.url, blue2.url]);
  const added = await cli(['reload'], env);
  t.equal(added.code, 0, added.err);
  t.match(added.out, /^config reloaded\n {2}targets added: .*127\.0\.0\.1:\d+/);
  t.equal(switchyard.pools.pools.find((pool) => pool.name === 'blue')!.targets.length, 2, 'the new target is in the pool');

  // Once blue2 passed its first check, removing blue1 takes it out at once (before that, blue1
  // would keep serving until blue2 is ready: make before break).
  await waitFor('blue2 ready', () => switchyard.pools.find('blue', new URL(blue2.url).host)?.ready, { timeoutMs: 10_000 });
  write([blue2.url]);
  const json = await cli(['reload', '--json'], env);
  t.equal(json.code, 0, json.err);
  t.match(JSON.parse(json.out), { reloaded: true, removedTargets: [/127\.0\.0\.1/], addedTargets: [] });

  const before = targets();
  const revision = switchyard.control.current.revision;
  write(['not a url', 'http://127.0.0.1:1', 'http://127.0.0.1:1']);
  const refused = await cli(['reload'], env);
  t.equal(refused.code, 1, 'a refused reload exits 1');
  t.match(refused.err, /refused \(400 INVALID_CONFIG\): invalid config; the running config stays/);
  t.match(refused.err, /\n {2}pools\.blue\.targets\[0\]: not a URL/, 'every problem on its own line');
  t.match(refused.err, /\n {2}pools\.blue\.targets\[2\]: duplicate target/);
  t.same(targets(), before, 'the running pools are unchanged');
  t.equal(switchyard.control.current.revision, revision);
});

t.test('instances: a table of live instances, or JSON', async (t) => {
  const [blue, green] = [await startUpstream('blue'), await startUpstream('green')];
  const file = join(dir, 'instances.yaml');
  writeFileSync(file, `
listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
pools: { blue: { targets: ["${blue.url}"] }, green: { targets: ["${green.url}"] } }
log: { access: false }
`);
  const switchyard = await Switchyard.start(loadConfigFile(file, {}), { configPath: file, logDestination: new LogSink() });
  t.teardown(async () => {
    await switchyard.close();
    await Promise.all([blue.close(), green.close()]);
  });
  const env = { SWITCHYARD_ADMIN_URL: switchyard.adminUrl };
  const id = switchyard.instance.id;
  const table = await cli(['instances'], env);
  t.equal(table.code, 0, table.err);
  t.match(table.out, /^1 live instance\n\nINSTANCE\s+HOST\s+REVISION\s+STORE\s+INFLIGHT\s+STARTED\s+SEEN\n/);
  t.match(table.out, new RegExp(`${id}\\s+\\S+\\s+1\\s+up\\s+blue=0 green=0\\s+\\d+s ago\\s+\\d+s ago`));
  const json = await cli(['instances', '--json'], env);
  t.equal(json.code, 0);
  t.match(JSON.parse(json.out), { storeUp: true, instances: [{ id, revision: 1, pools: { blue: { inflight: 0 } } }] });
});
