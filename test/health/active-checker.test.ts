import t from 'tap';
import { ActiveHealthChecker, type HealthChange } from '../../src/health/active-checker.js';
import { httpProbe, type ProbeResult, type ProbeSettings } from '../../src/health/http-probe.js';
import { Flag } from '../../src/pool/health-flags.js';
import { Target } from '../../src/pool/target.js';
import type { UpstreamClient } from '../../src/proxy/upstream-client.js';
import type { HealthCheckConfig } from '../../src/config/schema.js';
import { startUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/http-client.js';

const config = (overrides: Partial<HealthCheckConfig> = {}): HealthCheckConfig => ({
  path: '/healthz', intervalMs: 20, timeoutMs: 200, healthyThreshold: 2, unhealthyThreshold: 2, expectStatus: '200-399', ...overrides,
});
const target = (url = 'http://127.0.0.1:1') => new Target(url, 'blue', () => ({ closed: false }) as UpstreamClient);

/** A scripted probe: answers from a queue (last answer repeats) and records what it was asked. */
function scripted(...answers: boolean[]) {
  const asked: ProbeSettings[] = [];
  const probe = async (_origin: string, settings: ProbeSettings): Promise<ProbeResult> => {
    asked.push(settings);
    const ok = answers.length > 1 ? answers.shift()! : answers[0]!;
    return ok ? { ok, status: 200, ms: 1 } : { ok, error: 'ECONNREFUSED', ms: 1 };
  };
  return { probe, asked };
}

t.test('a watched target is pending until its first check, which decides', async (t) => {
  const { probe } = scripted(false);
  const changes: HealthChange[] = [];
  const checker = new ActiveHealthChecker(probe, (change) => changes.push(change), () => 0);
  t.teardown(() => checker.stop());
  const dead = target();
  checker.watch(dead, config());
  t.ok(dead.health.has(Flag.PENDING_FIRST_CHECK));
  t.notOk(dead.ready);
  await checker.start();
  t.notOk(dead.health.has(Flag.PENDING_FIRST_CHECK), 'first round done');
  t.ok(dead.health.has(Flag.FAILED_ACTIVE_CHECK));
  t.match(dead.lastCheck, { ok: false, error: 'ECONNREFUSED', ms: 1 });
  t.equal(changes.length, 1);
  t.match(changes[0], { healthy: false });
});

t.test('thresholds drive the flag over time, and changes are reported once each', async (t) => {
  const { probe } = scripted(true, true, false, false, true, true, true);
  const changes: boolean[] = [];
  const checker = new ActiveHealthChecker(probe, (change) => changes.push(change.healthy), () => 0);
  t.teardown(() => checker.stop());
  const flaky = target();
  checker.watch(flaky, config());
  await checker.start();
  t.ok(flaky.ready);
  await waitFor('unhealthy after two failures', () => (changes.includes(false) ? true : undefined), { timeoutMs: 3000 });
  t.notOk(flaky.ready);
  await waitFor('healthy after two passes', () => (changes.at(-1) === true && changes.length === 3 ? true : undefined), { timeoutMs: 3000 });
  t.ok(flaky.ready);
  t.same(changes, [true, false, true]);
});

t.test('configure applies new settings; unwatch stops checking', async (t) => {
  const { probe, asked } = scripted(true);
  const checker = new ActiveHealthChecker(probe, () => undefined, () => 0.5);
  t.teardown(() => checker.stop());
  const one = target();
  checker.watch(one, config());
  await checker.start();
  checker.watch(one, config({ path: '/ready', expectStatus: '204' }));
  await waitFor('a check with the new path', () => (asked.some((settings) => settings.path === '/ready') ? true : undefined), { timeoutMs: 3000 });
  t.same(asked.at(-1)!.expect, [[204, 204]]);
  checker.unwatch(one);
  const count = asked.length;
  const later = target('http://127.0.0.1:2');
  checker.watch(later, config()); // watched after start: checked at once
  await waitFor('the new target checked', () => (later.lastCheck !== null ? true : undefined), { timeoutMs: 3000 });
  t.ok(asked.length >= count + 1);
  const afterUnwatch = asked.filter((settings) => settings.path === '/ready').length;
  await waitFor('a few more checks of the other target', () => (asked.length >= count + 4 ? true : undefined), { timeoutMs: 3000 });
  t.equal(asked.filter((settings) => settings.path === '/ready').length, afterUnwatch, 'the unwatched target is no longer checked');
});

t.test('the HTTP probe: status ranges, errors, timeouts', async (t) => {
  const upstream = await startUpstream('hc', (req, res) => {
    if (req.url === '/ok') return void res.end('fine');
    if (req.url === '/teapot') return void res.writeHead(418).end();
    if (req.url === '/slow') return; // never answers
    res.writeHead(503).end();
  });
  t.teardown(() => upstream.close());
  const settings = (path: string, expect: Array<[number, number]> = [[200, 399]]) => ({ path, timeoutMs: 150, expect });
  t.match(await httpProbe(upstream.url, settings('/ok')), { ok: true, status: 200 });
  t.match(await httpProbe(upstream.url, settings('/down')), { ok: false, status: 503 });
  t.match(await httpProbe(upstream.url, settings('/teapot', [[418, 418]])), { ok: true, status: 418 });
  t.match(await httpProbe(upstream.url, settings('/slow')), { ok: false, error: 'timeout' });
  t.match(await httpProbe('http://127.0.0.1:1', settings('/ok')), { ok: false, error: 'ECONNREFUSED' });
  t.equal(upstream.seen.find((req) => req.url === '/ok')?.headers.connection, 'close', 'a fresh connection per check');
});
