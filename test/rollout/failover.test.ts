// A rollout driven by one instance of a fleet survives that instance's death (SIGKILL: no
// goodbye, the lease just stops being renewed): another instance takes the lease and
// finishes from the stored step.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisFor, requireRedis } from '../helpers/redis-server.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';
import { spawnCli, type CliChild } from '../helpers/cli.js';
import { waitFor } from '../helpers/http-client.js';

/** A child loads TypeScript before it listens: seconds of CPU, many more on a machine shared by several test runs. */
const CHILD_START_MS = 60_000;

if (requireRedis(t)) {
  t.test('SIGKILL the driver mid-rollout: the other instance finishes it', async (t) => {
    const redis = await redisFor(t);
    const blue = await startUpstream('blue');
    const green = await startUpstream('green');
    t.teardown(async () => {
      await blue.close();
      await green.close();
    });
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-failover-'));
    const instances: Array<{ admin: string; proc: CliChild; id: string }> = [];
    for (const name of ['a', 'b']) {
      const adminPort = await closedPort();
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, `
listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: ${adminPort} }
pools:
  blue: { targets: ["${blue.url}"] }
  green: { targets: ["${green.url}"] }
state: { store: redis, url: "${redis.url}", prefix: "ro:" }
log: { access: false }
`);
      const proc = spawnCli(['start', '--config', file]);
      t.teardown(() => void proc.child.kill('SIGKILL'));
      await proc.waitFor(/switchyard listening/, CHILD_START_MS);
      const admin = `http://127.0.0.1:${adminPort}`;
      const status = (await (await fetch(`${admin}/status`)).json()) as { instance: { id: string } };
      instances.push({ admin, proc, id: status.instance.id });
    }
    const get = async (admin: string) => ((await (await fetch(`${admin}/rollout`)).json()) as { rollout: Record<string, any> }).rollout;

    const started = await fetch(`${instances[0]!.admin}/rollout`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pool: 'green', steps: [20, 40, 60, 100], intervalMs: 500, maxErrorRate: 0.01, minRequests: 0 }),
    });
    t.equal(started.status, 202);
    await started.text();
    const rollout = await waitFor('a driver past the first step', async () => {
      const current = await get(instances[0]!.admin);
      return current.step >= 1 && current.driver !== null ? current : undefined;
    }, { timeoutMs: 10_000, intervalMs: 25 });
    const driver = instances.find((instance) => instance.id === rollout.driver)!;
    const survivor = instances.find((instance) => instance !== driver)!;
    driver.proc.child.kill('SIGKILL');
    await driver.proc.exited;

    const done = await waitFor('completed by the survivor', async () => {
      const current = await get(survivor.admin);
      return current.phase === 'completed' ? current : undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    t.same(done.history.map((verdict: { weight: number; verdict: string }) => verdict.weight), [20, 40, 60, 100], 'every step judged once, none skipped or repeated');
    t.ok(done.history.every((verdict: { verdict: string }) => verdict.verdict === 'pass'));
    const status = (await (await fetch(`${survivor.admin}/status`)).json()) as { weights: Record<string, number> };
    t.same(status.weights, { blue: 0, green: 100 });
    t.comment(`driver ${driver.id} killed at step ${rollout.step + 1}; ${survivor.id} finished the rollout`);
  });
}
