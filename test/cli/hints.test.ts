// The CLI's pure helpers for refusals and the new outputs: hints, port-in-use advice, the
// reload summary, the instances table, and /status's store in both its shapes.
import t from 'tap';
import { RefusedError } from '../../src/cli/admin-client.js';
import { cliMessage, hintFor, portInUseHint } from '../../src/cli/hints.js';
import { formatInstances, formatReload, formatRollout, formatStatus } from '../../src/cli/format.js';
import { adminUrl } from '../../src/cli/admin-url.js';
import { UsageError } from '../../src/cli/result.js';
import type { StatusView } from '../../src/admin/status-view.js';

t.test('hints speak the CLI\'s terms', async (t) => {
  const unhealthy = new RefusedError(409, 'POOL_UNHEALTHY', 'pool red has no ready target (use force to override)');
  t.equal(cliMessage(unhealthy, 'flip'), 'pool red has no ready target (use --force to override)');
  t.equal(cliMessage(unhealthy, 'rollout'), unhealthy.message, 'rollout has no --force: the message stays');
  t.equal(hintFor(unhealthy, 'flip', false), null, 'the message already names --force');
  t.match(hintFor(new RefusedError(409, 'POOL_UNHEALTHY', 'pool red has no ready target'), 'weights', false), /switchyard weights … --force/);
  t.match(hintFor(new RefusedError(401, 'UNAUTHORIZED', 'x'), 'status', false), /--token TOKEN or set SWITCHYARD_ADMIN_TOKEN/);
  t.match(hintFor(new RefusedError(401, 'UNAUTHORIZED', 'x'), 'status', true), /the token was refused/);
  t.equal(hintFor(new RefusedError(400, 'INVALID_WEIGHTS', 'x'), 'weights', false), null);
});

t.test('port in use: the setting that names the port', async (t) => {
  const settings = [{ port: 8080, setting: '--port' }, { port: 9901, setting: '--admin-port' }];
  const err = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:9901'), { code: 'EADDRINUSE', port: 9901 });
  t.match(portInUseHint(err, settings), /port 9901 is taken .*choose another with --admin-port$/);
  const noPort = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), { code: 'EADDRINUSE' });
  t.match(portInUseHint(noPort, settings), /port 8080 .*with --port$/, 'the port read from the message');
  const unknown = Object.assign(new Error('listen EADDRINUSE: address already in use :::7000'), { code: 'EADDRINUSE', port: 7000 });
  t.match(portInUseHint(unknown, settings), /with --port or --admin-port$/, 'no match: every setting');
  t.equal(portInUseHint(new Error('boom'), settings), null);
  t.equal(portInUseHint(null, settings), null);
});

t.test('admin URLs', async (t) => {
  t.equal(adminUrl(undefined, {}), 'http://127.0.0.1:9901');
  t.equal(adminUrl(undefined, { SWITCHYARD_ADMIN_URL: 'https://admin.example:9443' }), 'https://admin.example:9443');
  t.equal(adminUrl('http://[::1]:9901', { SWITCHYARD_ADMIN_URL: 'notaurl' }), 'http://[::1]:9901', '--admin wins over the env');
  const refusal = (flag: string | undefined, env: NodeJS.ProcessEnv) => {
    try {
      adminUrl(flag, env);
      return null;
    } catch (err) {
      return err instanceof UsageError ? err.message : `not a UsageError: ${String(err)}`;
    }
  };
  t.match(refusal('127.0.0.1:9901', {}), /^--admin takes .* got "127\.0\.0\.1:9901"$/, 'a URL without a scheme');
  t.match(refusal(undefined, { SWITCHYARD_ADMIN_URL: 'mailto:x@y' }), /^SWITCHYARD_ADMIN_URL takes .* got "mailto:x@y"$/);
});

t.test('reload summary and instances table', async (t) => {
  t.equal(formatReload({ reloaded: true, addedTargets: [], removedTargets: [], addedPools: [], removedPools: [], ignored: [] }),
    'config reloaded: no pool or target changed\n');
  t.equal(formatReload({ addedTargets: ['blue http://a:1'], removedPools: ['red'], ignored: ['listen.port'] }),
    'config reloaded\n  pools removed: red\n  targets added: blue http://a:1\n  not applied (need a restart): listen.port\n');
  t.equal(formatReload({ reloaded: true, addedTargets: [], removedTargets: [], discoveryChanged: ['blue'], ignored: [] }),
    'config reloaded\n  discovery changed (targets follow the next answer): blue\n', 'a discover change is a change');
  const now = new Date('2026-01-01T00:01:00Z');
  t.equal(formatInstances({ storeUp: false, instances: [] }, now), '0 live instances · store DOWN (heartbeats may be stale)\n');
  t.match(formatInstances({ instances: [{ id: 'a-1', host: 'a', revision: 7, storeUp: true, startedAt: '2026-01-01T00:00:00Z',
    seenAt: '2026-01-01T00:00:59Z', pools: { blue: { inflight: 3, longLived: 2 }, green: { inflight: 0 } } }] }, now),
  /1 live instance\n\nINSTANCE\s+HOST\s+REVISION\s+STORE\s+INFLIGHT\s+STARTED\s+SEEN\na-1\s+a\s+7\s+up\s+blue=3\(\+2 ws\) green=0\s+1m00s ago\s+1s ago/);
});

t.test('rollout status lists skipped steps, grouped by why', async (t) => {
  const text = formatRollout({
    spec: { pool: 'green', steps: [10, 25, 50, 100], intervalMs: 1000, maxErrorRate: 0.01, minRequests: 0 }, step: 2, phase: 'running', history: [],
    skipped: [{ step: 0, weight: 10, reason: 'green was at 30 already' }, { step: 1, weight: 25, reason: 'green was at 30 already' }],
  });
  t.match(text, /step 3\/4 \(50%\)/);
  t.match(text, /skipped 10%, 25%: green was at 30 already\n/);
  t.notMatch(formatRollout({ spec: { pool: 'g', steps: [100], intervalMs: 1, maxErrorRate: 0, minRequests: 0 }, step: 0, phase: 'running' }), /skipped/,
    'a rollout stored without the field');
});

t.test('status: the store line reads both the old and the new shape', async (t) => {
  const base = {
    revision: 3, weights: {}, previous: null, updatedAt: '2026-01-01T00:00:00.000Z', updatedBy: 'cli', pools: {}, instance: { id: 'i', startedAt: 'x' },
  };
  const status = (store: Record<string, unknown>) => ({ ...base, store }) as unknown as StatusView;
  const now = new Date('2026-01-01T00:00:30.000Z');
  t.match(formatStatus(status({ kind: 'redis', up: true }), { now }), /store redis \(up\)/);
  t.match(formatStatus(status({ kind: 'redis', up: false }), { now }), /store redis \(DOWN\)\n/);
  t.match(formatStatus(status({ kind: 'redis', up: false, lastOkAt: '2026-01-01T00:00:18.000Z', error: 'no answer within 2000 ms' }), { now }),
    /store redis \(DOWN: no answer within 2000 ms; last ok 12s ago\)/);
  t.match(formatStatus(status({ kind: 'redis', up: true, lastOkAt: '2026-01-01T00:00:29.000Z', error: null }), { now }), /store redis \(up\)/);
});
