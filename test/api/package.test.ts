// The published package as a user gets it: the build output (compiled to a temp folder,
// like `npm run build` does at install), installed as a dependency of another project,
// imported by its package name through `exports`, and type-checked against its declarations.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startUpstream } from '../helpers/upstream.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

function run(args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString('utf8'); });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

const root = mkdtempSync(join(tmpdir(), 'switchyard-package-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
// The package folder as npm lays out a `file:` dependency: package.json + dist, its own
// dependencies beside it (the repo's, linked), and the user's project linking to it.
const pkg = join(root, 'switchyard-proxy');
const app = join(root, 'app');
mkdirSync(pkg);
mkdirSync(join(app, 'node_modules'), { recursive: true });
writeFileSync(join(pkg, 'package.json'), readFileSync(join(REPO, 'package.json')));
symlinkSync(join(REPO, 'node_modules'), join(pkg, 'node_modules'), 'dir');
symlinkSync(pkg, join(app, 'node_modules', 'switchyard-proxy'), 'dir');
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'user-app', type: 'module', dependencies: { 'switchyard-proxy': 'file:../switchyard-proxy' } }));

t.before(async () => {
  const build = await run([TSC, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], REPO);
  if (build.code !== 0) throw new Error(`the build failed:\n${build.out}`);
});

t.test('package.json: main, types and exports name files the build emits', async (t) => {
  const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Record<string, any>;
  const named = [manifest.main, manifest.types, manifest.exports['.'].types, manifest.exports['.'].default, manifest.bin.switchyard];
  for (const file of named) t.ok(existsSync(join(pkg, file)), `${file} is built`);
  t.equal(manifest.exports['.'].types, `./${manifest.types}`);
  t.ok(manifest.files.includes('dist'), 'dist is published');
});

t.test('a user starts a Switchyard from an object, proxies a request, closes it; a bad object is refused', async (t) => {
  const upstream = await startUpstream('blue-1');
  t.teardown(() => upstream.close());
  writeFileSync(join(app, 'main.js'), `
import { startSwitchyard, ConfigError } from 'switchyard-proxy';
const report = {};
const running = await startSwitchyard({
  listen: { host: '127.0.0.1', port: 0 },
  admin: { host: '127.0.0.1', port: 0 },
  pools: { blue: { version: '1.0.0', targets: [process.argv[2]] } },
  log: { level: 'silent' },
});
report.urls = [running.proxyUrl, running.adminUrl, running.previewUrl];
report.pools = running.config.pools.map((pool) => pool.name);
const answer = await fetch(running.proxyUrl + '/hello?x=1');
report.status = answer.status;
report.body = await answer.json();
await running.close();
report.closed = await fetch(running.proxyUrl).then(() => 'still open', (err) => err.cause?.code ?? err.message);
try {
  await startSwitchyard({ helthCheck: {}, pools: { blue: { targets: ['not a url'] } }, listen: { port: 'abc' } });
  report.refused = false;
} catch (err) {
  report.refused = { isConfigError: err instanceof ConfigError, name: err.name, problems: err.problems };
}
console.log(JSON.stringify(report));
`);
  const result = await run(['main.js', upstream.url], app);
  t.equal(result.code, 0, result.out);
  const report = JSON.parse(result.out.trim().split('\n').at(-1)!);
  t.match(report.urls, [/^http:\/\/127\.0\.0\.1:\d+$/, /^http:\/\/127\.0\.0\.1:\d+$/, null]);
  t.strictSame(report.pools, ['blue']);
  t.equal(report.status, 200);
  t.equal(report.body.name, 'blue-1', 'answered by the real upstream');
  t.equal(report.body.url, '/hello?x=1');
  t.equal(upstream.seen.filter((req) => req.url === '/hello?x=1').length, 1, 'the upstream saw the request once');
  t.equal(report.closed, 'ECONNREFUSED', 'close() stops the proxy listener');
  t.strictSame(report.refused, {
    isConfigError: true,
    name: 'ConfigError',
    problems: [
      'helthCheck: unknown key (did you mean healthCheck?)',
      'pools.blue.targets[0]: not a URL ("not a url")',
      'listen.port: expected integer',
    ],
  });
});

t.test('the declarations type-check a user\'s TypeScript (and the README example), and refuse a wrong config shape', async (t) => {
  writeFileSync(join(app, 'check.ts'), `
import { startSwitchyard, ConfigError, type RunningSwitchyard, type SwitchyardConfigInput } from 'switchyard-proxy';
const config: SwitchyardConfigInput = {
  listen: { port: 0 },
  pools: { blue: { targets: ['http://127.0.0.1:3001'], healthCheck: { intervalMs: 500 } } },
  limits: { maxRequestBodyBytes: '\${MAX_BODY:-0}' },
  state: { store: 'redis', opTimeoutMs: 2000 },
};
const running: RunningSwitchyard = await startSwitchyard(config, { env: { MAX_BODY: '1024' } });
const url: string = running.proxyUrl;
const fromFile = await startSwitchyard('switchyard.yaml');
const problems: string[] = new ConfigError(['x']).problems;
// @ts-expect-error pools is required
const noPools: SwitchyardConfigInput = { listen: { port: 0 } };
// @ts-expect-error targets is a list
const oneTarget: SwitchyardConfigInput = { pools: { blue: { targets: 'http://127.0.0.1:3001' } } };
// @ts-expect-error no such store
const badStore: SwitchyardConfigInput = { pools: {}, state: { store: 'postgres' } };
// @ts-expect-error a port is a number (or a \${VAR} reference)
const badPort: SwitchyardConfigInput = { pools: {}, listen: { port: 'eighty' } };
await running.close();
export { url, fromFile, problems, noPools, oneTarget, badStore, badPort };
`);
  // The README's example as a user would paste it (its two upstream URLs declared).
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const example = /## From code[^]*?```ts\n([^]*?)```/.exec(readme)?.[1];
  t.ok(example?.includes('startSwitchyard'), 'the README has a TypeScript example of the API');
  writeFileSync(join(app, 'readme-example.ts'), `declare const blueUrl: string;\ndeclare const greenUrl: string;\n${example}\nexport {};\n`);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true,
      types: ['node'], typeRoots: [join(REPO, 'node_modules', '@types')],
    },
    files: ['check.ts', 'readme-example.ts'],
  }));
  const check = await run([TSC, '-p', join(app, 'tsconfig.json')], app);
  t.equal(check.code, 0, check.out);
  t.equal(check.out, '', 'no type errors, and every @ts-expect-error was an error');
});
