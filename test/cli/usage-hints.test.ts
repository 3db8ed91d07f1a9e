// The CLI as a new user meets it: --version, a malformed admin URL is bad usage (exit 2) for
// every client command, and refusals come with a hint in the CLI's own terms (--force,
// --token / SWITCHYARD_ADMIN_TOKEN).
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { cli } from '../helpers/cli.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function setup(t: Test, overrides: Record<string, unknown> = {}): Promise<{ proxy: TestProxy; env: NodeJS.ProcessEnv }> {
  const blue = await startUpstream('blue');
  const proxy = await startProxy({ blue: [blue.url], red: [`http://127.0.0.1:${await closedPort()}`] }, { log: { access: false }, ...overrides });
  t.teardown(async () => {
    await proxy.close();
    await blue.close();
  });
  return { proxy, env: { SWITCHYARD_ADMIN_URL: proxy.admin } };
}

t.test('--version and -v print the package version', async (t) => {
  for (const flag of ['--version', '-v']) {
    const run = await cli([flag]);
    t.equal(run.code, 0, flag);
    t.equal(run.out.trim(), VERSION);
  }
  const help = await cli(['--help']);
  t.match(help.out, /-v, --version\s+print the version/);
  t.match(help.out, /reload\s.*re-read the server's config file/, 'reload is in --help');
  t.match(help.out, /instances\s.*live instances/, 'instances is in --help');
  t.match((await cli(['rollout', '--help'])).out, /--wait\s/, 'rollout --wait is in rollout --help');
});

const CLIENT_COMMANDS = [
  ['status'], ['status', '--watch', '1'], ['flip', 'blue'], ['weights', 'blue=100', 'red=0'], ['rollback'], ['events'],
  ['rollout', 'status'], ['rollout', 'abort'], ['rollout', 'promote'], ['rollout', 'red'], ['reload'], ['instances'],
];

t.test('a malformed admin URL is bad usage (exit 2) for every client command; nothing changes', async (t) => {
  const { proxy } = await setup(t);
  const before = proxy.switchyard.control.current;
  for (const url of ['notaurl', 'localhost:9901', 'ftp://127.0.0.1:9901', 'http://', '']) {
    for (const argv of CLIENT_COMMANDS) {
      const run = await cli([...argv, '--admin', url]);
      t.equal(run.code, 2, `${argv.join(' ')} --admin "${url}" → 2`);
      t.match(run.err, `--admin takes the admin API's http(s) URL, like http://127.0.0.1:9901; got "${url}"`);
    }
  }
  const fromEnv = await cli(['status'], { SWITCHYARD_ADMIN_URL: 'notaurl' });
  t.equal(fromEnv.code, 2);
  t.match(fromEnv.err, /SWITCHYARD_ADMIN_URL takes the admin API's http\(s\) URL.*got "notaurl"/, 'names where the bad URL came from');
  t.equal(proxy.switchyard.control.current, before, 'no call reached the server');
  const good = await cli(['status', '--admin', `${proxy.admin}/`]);
  t.equal(good.code, 0, 'a trailing slash is fine');
});

t.test('POOL_UNHEALTHY says --force in the CLI; state unchanged', async (t) => {
  const { proxy, env } = await setup(t);
  const before = proxy.switchyard.control.current;
  for (const argv of [['flip', 'red'], ['weights', 'blue=50', 'red=50']]) {
    const run = await cli(argv, env);
    t.equal(run.code, 1, argv.join(' '));
    t.match(run.err, /refused \(409 POOL_UNHEALTHY\): pool red has no ready target/);
    t.match(run.err, /--force/, 'the hint names the flag');
    t.notMatch(run.err, /use force\b/, 'not the API body field');
  }
  t.equal(proxy.switchyard.control.current, before);
  const forced = await cli(['flip', 'red', '--force'], env);
  t.equal(forced.code, 0, 'and --force does what the hint says');
});

t.test('a 401 says how to pass the token', async (t) => {
  const { proxy, env } = await setup(t, { admin: { host: '127.0.0.1', port: 0, token: 's3cret' } });
  const before = proxy.switchyard.control.current;
  for (const argv of [['status'], ['flip', 'red'], ['instances'], ['reload'], ['rollout', 'status']]) {
    const missing = await cli(argv, env);
    t.equal(missing.code, 1, argv.join(' '));
    t.match(missing.err, /401 UNAUTHORIZED/);
    t.match(missing.err, /hint: this admin API needs a token: pass --token TOKEN or set SWITCHYARD_ADMIN_TOKEN/);
  }
  const wrong = await cli(['status', '--token', 'nope'], env);
  t.equal(wrong.code, 1);
  t.match(wrong.err, /hint: the token was refused; check --token or SWITCHYARD_ADMIN_TOKEN/);
  const wrongEnv = await cli(['status'], { ...env, SWITCHYARD_ADMIN_TOKEN: 'nope' });
  t.match(wrongEnv.err, /hint: the token was refused/);
  t.equal(proxy.switchyard.control.current, before);
});

t.test('a rollout of a pool at 100 is refused with a hint; nothing changes', async (t) => {
  const { proxy, env } = await setup(t);
  const before = proxy.switchyard.control.current;
  const run = await cli(['rollout', 'blue', '--steps', '10,25,50,100'], env);
  t.equal(run.code, 1);
  t.match(run.err, /refused \(409 POOL_ALREADY_ACTIVE\): blue already has 100% of the traffic/);
  t.match(run.err, /hint: nothing to roll out/);
  t.equal(proxy.switchyard.control.current, before);
  t.equal((await cli(['rollout', 'status'], env)).out.trim(), 'no rollout has run');
});
