// `switchyard check-config` as a user runs it (a child process): exit 2, every problem with
// its key path, a "did you mean" for a mistyped key, the problems in the file's order.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { spawnCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-check-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the real CLI to its exit; returns the exit code and everything it printed. */
async function checkConfig(...args: string[]): Promise<{ code: number | null; output: string }> {
  const run = spawnCli(['check-config', ...args]);
  const code = await run.exited;
  return { code, output: run.output() };
}

const FILE = `listen: { host: 127.0.0.1, port: 8080 }
helthCheck: { path: /up }
pools:
  blue:
    targets: ["http://127.0.0.1:3001", "http://127.0.0.1:3001/"]
limits:
  maxHeaderByte: 8192
routing: { initial: { blue: 90 } }
`;

t.test('problems: exit 2, key paths, hints, file order (text and --json)', async (t) => {
  const path = join(dir, 'bad.yaml');
  writeFileSync(path, FILE);
  const expected = [
    'helthCheck: unknown key (did you mean healthCheck?)',
    'pools.blue.targets[1]: duplicate target http://127.0.0.1:3001 (also pools.blue.targets[0])',
    'limits.maxHeaderByte: unknown key (did you mean maxHeaderBytes?)',
    'routing.initial: weights must sum to 100 (got 90)',
  ];
  const [text, json] = await Promise.all([checkConfig(path), checkConfig(path, '--json')]);
  t.equal(text.code, 2, text.output);
  t.equal(text.output, `invalid config:\n${expected.map((line) => `  ${line}\n`).join('')}`);
  t.equal(json.code, 2, json.output);
  t.strictSame(JSON.parse(json.output), { file: path, ok: false, problems: expected });
  t.equal(readFileSync(path, 'utf8'), FILE, 'the file is left as it was');
});

t.test('the fixed file passes', async (t) => {
  const path = join(dir, 'good.yaml');
  writeFileSync(path, FILE.replace('helthCheck', 'healthCheck').replace(', "http://127.0.0.1:3001/"', '')
    .replace('maxHeaderByte:', 'maxHeaderBytes:').replace('blue: 90', 'blue: 100'));
  const run = await checkConfig(path);
  t.equal(run.code, 0, run.output);
  t.equal(run.output, `${path}: ok (blue ×1)\n`);
});
