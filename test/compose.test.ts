// docker-compose.yml and the Dockerfile, checked against the project without Docker: every
// command is a real CLI command with valid arguments, every config file it names passes
// check-config with the environment compose gives it, ports agree and are unique, every
// long-running service has a healthcheck that probes the right port, the image is built as
// described, and the HTTPS listener gets the pair the one-shot tls-cert service makes (run
// here for real, then served by a Switchyard running the compose config).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { Command } from 'commander';
import { parse } from 'yaml';
import { expandEnv } from '../src/config/expand.js';
import { loadConfigFile, resolveConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { registerClientCommands } from '../src/cli/commands/client-commands.js';
import { registerServerCommands } from '../src/cli/commands/server-commands.js';
import type { CommandResult } from '../src/cli/result.js';
import { createDemoApp } from '../src/demo/demo-app.js';
import { Switchyard } from '../src/main.js';
import { loadPair } from '../src/tls/pem.js';
import { cli } from './helpers/cli.js';
import { LogSink } from './helpers/log-sink.js';
import { httpsGet } from './tls/tls-client.js';

const ROOT = join(import.meta.dirname, '..');
const at = (path: string) => join(ROOT, path);

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string; target?: string } | string;
  command?: string[] | string;
  environment?: Record<string, string | number | null> | string[];
  ports?: Array<string | Record<string, unknown>>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
  volumes?: Array<string | Record<string, unknown>>;
  restart?: string;
  user?: string;
}

const compose = parse(readFileSync(at('docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;
const dockerfile = readFileSync(at('Dockerfile'), 'utf8');

/** What compose does to `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$$` (the host environment is empty here). */
function interpolate(text: string, host: NodeJS.ProcessEnv = {}): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced: string | undefined, operator: string | undefined, fallback: string | undefined, bare: string | undefined) => {
      if (match === '$$') return '$';
      const name = braced ?? bare!;
      const value = host[name];
      if (operator === ':-') return value === undefined || value === '' ? fallback! : value;
      if (operator === '-') return value === undefined ? fallback! : value;
      return value ?? '';
    });
}

function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  const entries: Array<[string, string]> = Array.isArray(env)
    ? env.map((item) => [item.split('=')[0]!, item.slice(item.indexOf('=') + 1)])
    : Object.entries(env).map(([key, value]) => [key, value === null ? '' : String(value)]);
  return Object.fromEntries(entries.map(([key, value]) => [key, interpolate(value)]));
}

function commandOf(service: Service): string[] {
  const command = service.command ?? [];
  return (Array.isArray(command) ? command : command.split(/\s+/)).map((part) => interpolate(part));
}

/** `node dist/cli/main.js ARGS…` → ARGS. */
function cliArgs(name: string, service: Service): string[] {
  const command = commandOf(service);
  if (command[0] !== 'node' || command[1] !== 'dist/cli/main.js') throw new Error(`${name}: not a switchyard command: ${command.join(' ')}`);
  return command.slice(2);
}

/** Parses argv with the real CLI definition, without running the command: unknown options and bad values throw. */
async function parseOnly(argv: string[]): Promise<{ parsed: boolean }> {
  let parsed = false;
  const program = new Command('switchyard').exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  const io = { out: () => undefined, err: () => undefined, env: {} };
  const run = (_result: CommandResult) => {
    parsed = true; // the action was reached: every option parsed and validated; never run it
  };
  registerServerCommands(program, io, run);
  registerClientCommands(program, io, run);
  await program.parseAsync(argv, { from: 'user' });
  return { parsed };
}

function flag(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index === -1 ? undefined : args[index + 1];
}

interface Published {
  service: string;
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

const published: Published[] = Object.entries(services).flatMap(([service, definition]) => (definition.ports ?? []).map((port) => {
  if (typeof port !== 'string') throw new Error(`${service}: use the short "127.0.0.1:HOST:CONTAINER" port syntax`);
  const match = /^(\d+\.\d+\.\d+\.\d+):(\d+):(\d+)(\/tcp)?$/.exec(interpolate(port));
  if (match === null) throw new Error(`${service}: port "${port}" does not name its host address`);
  return { service, hostIp: match[1]!, hostPort: Number(match[2]), containerPort: Number(match[3]) };
}));

const demoApps = Object.entries(services).filter(([, service]) => commandOf(service).includes('demo-app'));
const proxies = Object.entries(services).filter(([, service]) => commandOf(service).includes('start'));
/** Services that run once to completion (restart "no") instead of serving. */
const oneShots = Object.entries(services).filter(([, service]) => service.restart === 'no');

interface Mount { source: string; target: string; readOnly: boolean }
/** The short volume syntax `SOURCE:TARGET[:ro]` (a named volume, or a ./path bind mount). */
function mountsOf(name: string, service: Service): Mount[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume !== 'string') throw new Error(`${name}: use the short "SOURCE:TARGET[:ro]" volume syntax`);
    const [source, target, mode] = volume.split(':');
    return { source: source!, target: target!, readOnly: mode === 'ro' };
  });
}

/** The named volume tls-cert writes and the Switchyards read; a temporary folder stands in for it here. */
const volumeDir = mkdtempSync(join(tmpdir(), 'switchyard-compose-tls-'));
t.teardown(() => rmSync(volumeDir, { recursive: true, force: true }));

/** Runs tls-cert's command on this machine: its bind-mounted script from the repository, its volume → `volumeDir`. */
function runCertService(): { code: number | null; out: string } {
  const mounts = mountsOf('tls-cert', services['tls-cert']!);
  const onHost = (arg: string) => {
    const mount = mounts.find((item) => arg === item.target || arg.startsWith(`${item.target}/`));
    if (mount === undefined) return arg;
    const source = mount.source.startsWith('.') ? at(mount.source) : volumeDir;
    return source + arg.slice(mount.target.length);
  };
  const [node, ...args] = commandOf(services['tls-cert']!);
  if (node !== 'node') throw new Error(`tls-cert: not a node command: ${node}`);
  const run = spawnSync(process.execPath, args.map(onHost), { encoding: 'utf8' });
  return { code: run.status, out: run.stdout + run.stderr };
}
const firstRun = runCertService();

/** What compose gives a service, with the certificate folder (`${SWITCHYARD_TLS_DIR:-…}` in the config) at the stand-in volume. */
const configEnv = (service: Service): Record<string, string> => ({ ...environmentOf(service), SWITCHYARD_TLS_DIR: volumeDir });

/** Runs a `node -e` healthcheck in a sandbox with a fake fetch: which URL it probes, and its exit code for an answer and for a failure. */
async function probeHealthcheck(script: string, env: Record<string, string>, answer: 'ok' | 'fail' | 'unreachable') {
  const urls: string[] = [];
  const code = await new Promise<number>((resolve) => {
    const fetch = (url: string) => {
      urls.push(url);
      return answer === 'unreachable' ? Promise.reject(new TypeError('fetch failed')) : Promise.resolve({ ok: answer === 'ok' });
    };
    runInNewContext(script, { fetch, process: { env, exit: resolve } }, { timeout: 1000 });
  });
  return { urls, code };
}

t.test('the compose file has Redis, blue ×2, green ×1, two Switchyards and the one-shot that makes their certificate', async (t) => {
  t.same(Object.keys(services).sort(), ['blue-1', 'blue-2', 'green-1', 'redis', 'switchyard-1', 'switchyard-2', 'tls-cert']);
  t.same(oneShots.map(([name]) => name), ['tls-cert']);
  t.equal(services.redis!.image, 'redis:7-alpine');
  t.same(demoApps.map(([name]) => name).sort(), ['blue-1', 'blue-2', 'green-1']);
  t.same(proxies.map(([name]) => name).sort(), ['switchyard-1', 'switchyard-2']);
  const pools = demoApps.map(([, service]) => flag(cliArgs('', service), '--pool'));
  t.same(pools.sort(), ['blue', 'blue', 'green']);
});

t.test('the demo-app and start commands exist in the CLI and accept their arguments', async (t) => {
  for (const name of ['demo-app', 'start']) {
    const help = await cli([name, '--help']);
    t.equal(help.code, 0, `switchyard ${name} --help`);
    t.match(help.out, `Usage: switchyard ${name}`);
  }
  for (const [name, service] of [...demoApps, ...proxies]) {
    const args = cliArgs(name, service);
    t.same(await parseOnly(args), { parsed: true }, `${name}: switchyard ${args.join(' ')} parses`);
  }
  await t.rejects(parseOnly(['demo-app', '--colour', 'blue']), 'the check would catch an unknown option');
  await t.rejects(parseOnly(['demo-app', '--port', 'x']), 'and a bad port');
  t.ok(existsSync(at('src/cli/main.ts')), 'dist/cli/main.js is built from src/cli/main.ts');
  const build = JSON.parse(readFileSync(at('tsconfig.build.json'), 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } };
  t.same([build.compilerOptions.rootDir, build.compilerOptions.outDir], ['src', 'dist']);
});

t.test('demo apps listen on every interface, on the port their healthcheck probes, with the identity their pool expects', async (t) => {
  for (const [name, service] of demoApps) {
    const args = cliArgs(name, service);
    t.equal(flag(args, '--host'), '0.0.0.0', `${name} is reachable from the other containers`);
    t.equal(flag(args, '--instance'), name, `${name} reports its service name`);
    t.equal((service.ports ?? []).length, 0, `${name} is reached through the proxies, not published`);
  }
});

t.test('each Switchyard config exists and passes check-config with the environment compose gives it', async (t) => {
  const configs = new Map<string, Config>();
  for (const [name, service] of proxies) {
    const args = cliArgs(name, service);
    const file = flag(args, '--config') ?? flag(args, '-c');
    t.ok(file, `${name} names its config`);
    t.ok(existsSync(at(file!)), `${file} exists`);
    t.ok(dockerfile.includes('COPY config ./config'), 'and is copied into the image');
    const env = configEnv(service);
    t.equal(env.SWITCHYARD_ADMIN_TOKEN, 'switchyard-demo-token', `${name}: the documented demo token is the default`);
    t.equal(environmentOf(service).SWITCHYARD_ADMIN_TOKEN, interpolate('${SWITCHYARD_ADMIN_TOKEN:-switchyard-demo-token}'));
    const check = await cli(['check-config', at(file!)], env);
    t.equal(check.code, 0, `${name}: check-config passes (${check.err.trim()})`);
    const config = loadConfigFile(at(file!), env);
    configs.set(name, config);

    t.equal(config.listen.host, '0.0.0.0', `${name}: the proxy listens on every interface inside the container`);
    t.equal(config.admin.host, '0.0.0.0', `${name}: so does the admin API…`);
    t.not(config.admin.token, '', '…which therefore has a token');
    t.equal(config.state.store, 'redis', `${name}: shares its state through Redis`);
    const redisHost = new URL(config.state.url).hostname;
    t.ok(services[redisHost], `${name}: the Redis URL names the compose service "${redisHost}"`);
    t.match(services[redisHost]!.image, /^redis:/);
    t.ok(dependsOn(service).includes(redisHost), `${name} starts after Redis`);

    // Without the token, the same file is refused rather than serving an open admin API.
    const { SWITCHYARD_ADMIN_TOKEN: _token, ...withoutToken } = env;
    const refused = await cli(['check-config', at(file!)], withoutToken);
    t.equal(refused.code, 2, `${name}: no token, no start`);
    t.match(refused.err, /admin\.token: environment variable SWITCHYARD_ADMIN_TOKEN is not set/);

    // Every target is a demo-app service, of the right pool and version, on the port it listens on.
    for (const pool of config.pools) {
      for (const target of pool.targets) {
        const url = new URL(target);
        const app = services[url.hostname];
        t.ok(app, `${pool.name} target ${target} is a compose service`);
        const args = cliArgs(url.hostname, app!);
        t.equal(args[0], 'demo-app');
        t.equal(flag(args, '--pool'), pool.name, `${target} reports pool ${pool.name}`);
        t.equal(flag(args, '--app-version'), pool.version, `${target} reports version ${pool.version}`);
        t.equal(flag(args, '--port'), url.port, `${target}: the app listens on ${url.port}`);
        t.ok(dependsOn(service).includes(url.hostname), `${name} starts after ${url.hostname}`);
      }
    }
    t.same(config.pools.map((pool) => [pool.name, pool.targets.length]), [['blue', 2], ['green', 1]]);
    t.same(config.routing.initial, { blue: 100, green: 0 });
  }
  const [one, two] = [configs.get('switchyard-1')!, configs.get('switchyard-2')!];
  t.same([one.listen.port, two.listen.port], [8080, 8081]);
  t.same([one.admin.port, two.admin.port], [9901, 9902]);
  t.equal(one.state.url, two.state.url, 'both instances share one Redis…');
  t.equal(one.state.prefix, two.state.prefix, '…and one prefix');
  t.same(one.pools, two.pools);
});

t.test('published ports: on 127.0.0.1 only, unique, each one a port the service listens on', async (t) => {
  t.same(published.map((port) => port.hostPort).sort(), [8080, 8081, 8443, 8444, 9901, 9902]);
  t.equal(new Set(published.map((port) => `${port.hostIp}:${port.hostPort}`)).size, published.length, 'no host port published twice');
  for (const port of published) {
    t.equal(port.hostIp, '127.0.0.1', `${port.service}:${port.hostPort} only on localhost`);
    const config = loadConfigFile(at(flag(cliArgs(port.service, services[port.service]!), '--config')!), configEnv(services[port.service]!));
    t.ok([config.listen.port, config.admin.port, config.tls?.port].includes(port.containerPort), `${port.service} listens on ${port.containerPort}`);
  }
  for (const [name] of proxies) {
    t.same(published.filter((port) => port.service === name).map((port) => port.hostPort === port.containerPort), [true, true, true],
      `${name}: the same port numbers inside and out (proxy, HTTPS, admin)`);
  }
});

t.test('every long-running service has a healthcheck that probes what it serves', async (t) => {
  for (const [name, service] of Object.entries(services).filter(([name]) => !oneShots.some(([oneShot]) => oneShot === name))) {
    const test = service.healthcheck?.test;
    t.ok(Array.isArray(test) && test.length > 1 && service.healthcheck?.disable !== true, `${name} has a healthcheck`);
    t.equal(test![0], 'CMD', `${name}: exec form, no shell needed`);
  }
  t.same(services.redis!.healthcheck!.test, ['CMD', 'redis-cli', 'ping']);
  for (const [name, service] of [...demoApps, ...proxies]) {
    const test = service.healthcheck!.test as string[];
    t.same(test.slice(1, 3), ['node', '-e'], `${name}: a node one-liner (the slim image has no curl)`);
    t.notOk(test[3]!.includes('$'), `${name}: nothing in the script for compose to interpolate`);
    const env = configEnv(service);
    const args = cliArgs(name, service);
    const expected = args[0] === 'demo-app'
      ? `http://127.0.0.1:${flag(args, '--port')}/healthz`
      : `http://127.0.0.1:${loadConfigFile(at(flag(args, '--config')!), env).admin.port}/readyz`;
    const ok = await probeHealthcheck(test[3]!, env, 'ok');
    t.same(ok, { urls: [expected], code: 0 }, `${name}: probes ${expected}, healthy on 2xx`);
    t.equal((await probeHealthcheck(test[3]!, env, 'fail')).code, 1, `${name}: unhealthy on an error status`);
    t.equal((await probeHealthcheck(test[3]!, env, 'unreachable')).code, 1, `${name}: unhealthy when nothing answers`);
  }
});

t.test('the image: multi-stage on node:24-slim, runs as a non-root user, builds from files that exist', async (t) => {
  const lines = dockerfile.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const stages = lines.filter((line) => /^FROM\s/i.test(line)).map((line) => /^FROM\s+(\S+)\s+AS\s+(\S+)$/i.exec(line));
  t.same(stages.map((stage) => stage && [stage[1], stage[2]]), [['node:24-slim', 'build'], ['node:24-slim', 'runtime']]);
  const runtimeStart = lines.findIndex((line) => /^FROM\s.*\sAS\s+runtime$/i.test(line));
  const runtime = lines.slice(runtimeStart);
  const users = runtime.filter((line) => /^USER\s/i.test(line)).map((line) => line.split(/\s+/)[1]!);
  t.ok(users.length > 0, 'the runtime stage sets USER');
  t.notOk(['root', '0', '0:0', 'root:root'].includes(users.at(-1)!), `it runs as ${users.at(-1)}, not root`);
  t.ok(runtime.some((line) => /^COPY\s+--from=build\s+\S*dist\s/.test(line)), 'the runtime stage takes the compiled code from the build stage');
  t.match(runtime.find((line) => /^CMD\s/.test(line)), /"node", "dist\/cli\/main\.js", "start", "--config", "config\/compose-switchyard\.yaml"/);

  // Every COPY source from the build context exists and is not excluded by .dockerignore.
  const ignored = readFileSync(at('.dockerignore'), 'utf8').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const sources = lines.filter((line) => /^COPY\s/i.test(line) && !/--from=/.test(line))
    .flatMap((line) => line.split(/\s+/).slice(1).filter((part) => !part.startsWith('--')).slice(0, -1));
  t.ok(sources.length >= 4, `COPY sources: ${sources.join(', ')}`);
  for (const source of sources) {
    t.ok(existsSync(at(source)), `${source} exists`);
    t.notOk(ignored.some((pattern) => pattern === source || pattern === `${source}/` || source.startsWith(`${pattern}/`)), `${source} is not in .dockerignore`);
  }
  for (const pattern of ['node_modules', 'dist', '.git']) t.ok(ignored.includes(pattern), `.dockerignore leaves out ${pattern}`);
});

t.test('every Switchyard-image service builds from this Dockerfile, and every file it references exists', async (t) => {
  const stages = [...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)$/gim)].map((match) => match[1]);
  for (const [name, service] of [...demoApps, ...proxies, ...oneShots]) {
    const build = typeof service.build === 'string' ? { context: service.build } : service.build;
    t.ok(build, `${name} is built here`);
    t.ok(statSync(at(build!.context)).isDirectory(), `${name}: build context ${build!.context} exists`);
    t.ok(existsSync(join(at(build!.context), build!.dockerfile ?? 'Dockerfile')), `${name}: its Dockerfile exists`);
    if (build!.target !== undefined) t.ok(stages.includes(build!.target), `${name}: stage ${build!.target} exists`);
    t.equal(service.image, 'switchyard-proxy:local', `${name}: one image for all of them`);
    for (const dependency of dependsOn(service)) t.ok(services[dependency], `${name} depends on ${dependency}, a service`);
  }
  for (const [name, service] of Object.entries(services)) {
    const files = commandOf(service).filter((part) => /^(config|dist|src)\//.test(part));
    for (const file of files) {
      const source = file.startsWith('dist/') ? file.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts') : file;
      t.ok(existsSync(at(source)), `${name}: ${file} is in the project (${source})`);
    }
  }
});

t.test('the image runs the newest Node major that CI tests, one package.json allows', async (t) => {
  const majors = [...dockerfile.matchAll(/^FROM\s+node:(\d+)[-\w.]*\s/gim)].map((match) => Number(match[1]));
  const ci = /^NODES=\$\{SWITCHYARD_CI_NODES:-"([\d ]+)"\}$/m.exec(readFileSync(at('.ci/run'), 'utf8'));
  t.ok(ci, '.ci/run names its Node majors');
  const tested = ci![1]!.trim().split(/\s+/).map(Number);
  t.ok(majors.length > 0 && majors.every((major) => major === Math.max(...tested)), `image Node ${majors.join(', ')}; CI tests ${tested.join(', ')}`);
  const engines = JSON.parse(readFileSync(at('package.json'), 'utf8')).engines.node as string;
  const floor = Number(/^>=(\d+)\./.exec(engines)?.[1]);
  t.ok(tested.every((major) => major >= floor), `every tested major satisfies engines ${engines}`);
  t.ok(tested.includes(floor), `the oldest allowed major (${floor}) is tested too`);
});

t.test('tls-cert: a one-shot that writes the pair into the volume each Switchyard reads it from', async (t) => {
  const service = services['tls-cert']!;
  const mounts = mountsOf('tls-cert', service);
  const [, script, dir] = commandOf(service);
  const scriptMount = mounts.find((mount) => mount.target === script);
  t.ok(scriptMount?.source.startsWith('./') && existsSync(at(scriptMount.source)), `${script} is mounted from the repository (${scriptMount?.source})`);
  t.ok(scriptMount?.readOnly, 'read-only');
  const volume = mounts.find((mount) => mount.target === dir);
  t.ok(volume !== undefined && !volume.source.startsWith('.') && compose.volumes !== undefined && volume.source in compose.volumes,
    `${dir} is the named volume ${volume?.source}, declared at the top level`);
  t.equal(service.user, '0:0', 'root, only to hand the files to the node user');
  t.match(flag(commandOf(service), '--owner'), /^1000(:1000)?$/, "the image's node user (uid 1000), who runs Switchyard");
  t.match(dockerfile, /^USER node$/m);

  for (const [name, proxy] of proxies) {
    const depends = proxy.depends_on as Record<string, { condition?: string }>;
    t.equal(depends['tls-cert']?.condition, 'service_completed_successfully', `${name} starts once the pair exists`);
    // A folder mount, not one file: a pair replaced in the volume reaches the running container.
    const mount = mountsOf(name, proxy).find((item) => item.source === volume?.source);
    t.ok(mount?.readOnly, `${name} mounts ${volume?.source} read-only`);
    // The paths as the container sees them: compose's environment, SWITCHYARD_TLS_DIR unset.
    const raw = parse(readFileSync(at(flag(cliArgs(name, proxy), '--config')!), 'utf8')) as unknown;
    const { value } = expandEnv(raw, environmentOf(proxy)) as { value: { tls: { certificates: unknown } } };
    t.same(value.tls.certificates, [{ cert: `${mount?.target}/tls.crt`, key: `${mount?.target}/tls.key` }], `${name} reads tls.crt and tls.key in the mounted folder`);
  }
});

t.test('the pair tls-cert makes: current, self-signed for the names clients use, its key private, kept on the next start', async (t) => {
  t.equal(firstRun.code, 0, firstRun.out);
  const [certFile, keyFile] = [join(volumeDir, 'tls.crt'), join(volumeDir, 'tls.key')];
  const loaded = loadPair(certFile, keyFile, Date.now());
  t.ok(loaded.ok, `it loads as the listener loads it (${loaded.ok ? '' : JSON.stringify(loaded.problems)})`);
  if (!loaded.ok) return;
  for (const name of ['localhost', ...proxies.map(([proxy]) => proxy)]) t.ok(loaded.pair.names.includes(name), `SAN ${name}`);
  t.ok(loaded.pair.notAfter.getTime() - Date.now() > 300 * 86_400_000, 'valid for about a year');
  t.equal(statSync(keyFile).mode & 0o777, 0o600, 'the key is readable by its owner only');
  if (process.getuid?.() === 0) t.equal(statSync(keyFile).uid, 1000, 'owned by the node user');
  const before = readFileSync(certFile, 'utf8');
  const again = runCertService();
  t.equal(again.code, 0, again.out);
  t.match(again.out, /kept/);
  t.equal(readFileSync(certFile, 'utf8'), before, 'a pair already in the volume (an earlier one, or yours) is left alone');
  t.equal(dirname(certFile), volumeDir);
});

t.test('a Switchyard on the compose config serves HTTPS with that pair; clients verify it by name', async (t) => {
  const [name, service] = proxies[0]!;
  const demoApp = async (pool: string, version: string) => {
    const app = createDemoApp({ pool, version, instance: `${pool}-1` });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => { app.close(() => resolve()); app.closeAllConnections(); }));
    return `http://127.0.0.1:${(app.address() as { port: number }).port}`;
  };
  const document = parse(readFileSync(at(flag(cliArgs(name, service), '--config')!), 'utf8')) as Record<string, Record<string, unknown>>;
  // The compose file's config as it is, but on loopback ports and in front of local demo apps.
  const running = await Switchyard.start(resolveConfig({
    ...document,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { ...document.admin, host: '127.0.0.1', port: 0 },
    tls: { ...document.tls, host: '127.0.0.1', port: 0 },
    pools: { blue: { version: '1.0.0', targets: [await demoApp('blue', '1.0.0')] }, green: { version: '2.0.0', targets: [await demoApp('green', '2.0.0')] } },
    state: { store: 'memory' },
  }, configEnv(service)), { logDestination: new LogSink() });
  t.teardown(() => running.close());
  t.ok(running.tlsUrl, 'the HTTPS listener is up');
  const port = Number(new URL(running.tlsUrl!).port);
  const ca = readFileSync(join(volumeDir, 'tls.crt'), 'utf8');
  for (const servername of ['localhost', name]) {
    const answer = await httpsGet(port, '/', servername, ca);
    t.equal(answer.status, 200, `https://${servername}/ verifies against the self-signed certificate`);
    t.match(JSON.parse(answer.body), { pool: 'blue', version: '1.0.0' });
  }
  await t.rejects(httpsGet(port, '/', 'elsewhere.example', ca), /altnames|does not match/i, 'a name the certificate lacks is refused by the client');
});

function dependsOn(service: Service): string[] {
  const depends = service.depends_on ?? [];
  return Array.isArray(depends) ? depends : Object.keys(depends);
}
