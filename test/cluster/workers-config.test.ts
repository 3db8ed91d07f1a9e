// SPEC §15 workers at the CLI: a bad `workers` value stops `check-config` and `start` with
// exit 2 and the allowed forms; more workers than cores is allowed with a warning.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli } from '../helpers/cli.js';
import { targetUpstreamsFor } from '../helpers/target-upstreams.js';
import { freshGets, startWorkers, workersConfigText } from '../helpers/workers.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-workers-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const REFUSAL = 'workers: must be a whole number from 1 to 256, or "auto"';
/** More than this many worker processes is too heavy to start in a test. */
const MAX_STARTED = 8;

/** Runs the CLI to its exit; one still running after `ms` is killed and reported as code null. */
async function run(args: string[], ms = 20_000): Promise<{ code: number | null; output: string }> {
  const child = spawnCli(args);
  t.teardown(() => void child.child.kill('SIGKILL'));
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([child.exited, new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      child.child.kill('SIGKILL');
      resolve(null);
    }, ms);
  })]);
  clearTimeout(timer);
  return { code, output: child.output() };
}

function fileWith(name: string, workers: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, workersConfigText({ workers, pools: { blue: ['http://127.0.0.1:3001'] } }));
  return path;
}

// (1.5, 300 and the other refused forms: test/config/load.test.ts, at parse level)
t.test('workers: 0 / "many": check-config and start exit 2 naming the allowed forms', async (t) => {
  for (const [name, value] of [['zero', '0'], ['many', '"many"']] as const) {
    const path = fileWith(name, value);
    const [check, start] = await Promise.all([run(['check-config', path]), run(['start', '-c', path])]);
    t.equal(check.code, 2, `check-config, workers: ${value}: exit 2`);
    t.match(check.output, REFUSAL, `check-config, workers: ${value}: the message`);
    t.equal(start.code, 2, `start, workers: ${value}: exit 2`);
    t.match(start.output, REFUSAL, `start, workers: ${value}: the message`);
    t.notMatch(start.output, /switchyard listening|worker ready/, `start, workers: ${value}: nothing started`);
  }
});

t.test('more workers than cores: allowed, with a warning', async (t) => {
  const count = availableParallelism() + 1;
  const warning = new RegExp(`more than the ${availableParallelism()} core\\(s\\) available`);
  const path = fileWith('over', String(count));
  const [check, json] = await Promise.all([run(['check-config', path]), run(['check-config', path, '--json'])]);
  t.equal(check.code, 0, `check-config exits 0: ${check.output}`);
  t.match(check.output, warning, 'check-config prints the warning');
  t.equal(json.code, 0, json.output);
  t.match(JSON.parse(json.output), { ok: true, warnings: [warning] }, 'check-config --json lists it in warnings');

  const skip = count > MAX_STARTED ? `${count} worker processes are too many for a test` : false;
  t.test('start runs them and warns', { skip }, async (t) => {
    const [app] = await targetUpstreamsFor(t, ['blue']);
    const sy = await startWorkers(t, workersConfigText({ workers: count, pools: { blue: [app!.url] } }));
    t.match(sy.lines().find((line) => line.msg === 'switchyard listening'), { workers: count }, `start runs ${count} workers`);
    t.equal(sy.workers().size, count, `${count} workers ready`);
    const warned = sy.lines().find((line) => typeof line.msg === 'string' && warning.test(line.msg));
    t.match(warned, { level: 40 }, 'the primary logs the warning at warn level');
    const answers = await freshGets(sy.proxy, '/', 'over', 20);
    t.ok(answers.every((answer) => answer.status === 200), 'and serves');
  });
});
