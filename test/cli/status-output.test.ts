// `switchyard status` as an operator reads it: a table with state colours on a terminal
// (never with NO_COLOR or when piped), `--watch [seconds]` redrawing until Ctrl-C, and
// `--json` on every command that prints something.
import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatusView } from '../../src/admin/status-view.js';
import { formatStatus, paint, table, visibleLength } from '../../src/cli/format.js';
import { colorEnabled, type CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import { cli, spawnCli } from '../helpers/cli.js';
import { startProxy } from '../helpers/proxy.js';
import { startUpstream } from '../helpers/upstream.js';

const ESC = '\x1b[';
const CLEAR_SCREEN = '\x1b[H\x1b[2J';
const GREEN = '\x1b[32m';
const YELLOW = '\x1b[33m';
const RED = '\x1b[31m';
const DIM = '\x1b[2m';

interface Captured {
  io: CliIo;
  out: string[];
  err: string[];
}

function capture(extra: Partial<CliIo> = {}, onOut?: (text: string, index: number) => void): Captured {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (text) => {
      out.push(text);
      onOut?.(text, out.length - 1);
    },
    err: (text) => void err.push(text),
    env: {},
    ...extra,
  };
  return { io, out, err };
}

async function setup(t: Test) {
  const blue = await startUpstream('blue');
  const green = await startUpstream('green');
  const proxy = await startProxy({ blue: [blue.url], green: [green.url] });
  t.teardown(async () => {
    await proxy.close();
    await blue.close();
    await green.close();
  });
  return proxy;
}

function sampleStatus(): StatusView {
  const target = (url: string, extra: Record<string, unknown> = {}) => ({
    url, ready: true, healthy: true, ejected: false, inflight: 0, lastCheck: { at: '', ok: true, status: 200, ms: 1 }, ...extra,
  });
  const pool = (state: string, weight: number, targets: unknown[], extra: Record<string, unknown> = {}) => ({
    version: '1.0.0', weight, state, inflight: 0, longLived: 0, drainingSince: null, drainedAt: null,
    readyTargets: (targets as Array<{ ready: boolean }>).filter((one) => one.ready).length, targets, ...extra,
  });
  return {
    revision: 3, weights: {}, previous: null, updatedAt: '2026-01-01T00:00:00.000Z', updatedBy: 'cli', store: { kind: 'redis', up: false },
    instance: { id: 'x', startedAt: '' },
    pools: {
      live: pool('active', 100, [target('http://a:1')]),
      canary: pool('split', 0, [target('http://b:1'), target('http://b:2', { ready: false, healthy: false, lastCheck: { at: '', ok: false, error: 'ECONNREFUSED', ms: 1 } })]),
      old: pool('draining', 0, [target('http://c:1')], { drainingSince: '2026-01-01T00:00:00.000Z', inflight: 2 }),
      gone: pool('drained', 0, [target('http://d:1')], { drainedAt: '2026-01-01T00:00:00.000Z' }),
      spare: pool('standby', 0, [target('http://e:1', { ready: false, healthy: false })]),
    },
  } as unknown as StatusView;
}

t.test('colours only on a terminal, and never with NO_COLOR', async (t) => {
  t.equal(colorEnabled({ isTTY: true }, {}), true);
  t.equal(colorEnabled({ isTTY: true }, { NO_COLOR: '1' }), false);
  t.equal(colorEnabled({ isTTY: false }, {}), false);
  t.equal(colorEnabled({}, {}), false);
  t.equal(colorEnabled({ isTTY: true }, { NO_COLOR: '' }), true, 'an empty NO_COLOR does not count (no-color.org)');
  t.equal(paint('x', 'red', false), 'x');
  t.equal(paint('x', 'red', true), `${RED}x\x1b[0m`);
  t.equal(paint('', 'red', true), '', 'nothing to paint');
});

t.test('the status table: state colours, drain age, columns aligned despite colour codes', async (t) => {
  const now = new Date('2026-01-01T00:01:05.000Z');
  const plain = formatStatus(sampleStatus(), { now });
  t.notOk(plain.includes(ESC), 'no escape codes unless asked');
  t.match(plain, /POOL\s+VERSION\s+WEIGHT\s+STATE\s+HEALTHY\s+INFLIGHT/);
  t.match(plain, /live\s+1\.0\.0\s+100\s+active\s+1\/1\s+0/);
  t.match(plain, /canary\s+1\.0\.0\s+0\s+split\s+1\/2\s+0/);
  t.match(plain, /old\s+1\.0\.0\s+0\s+draining 1m05s\s+1\/1\s+2/);
  t.match(plain, /gone\s+1\.0\.0\s+0\s+drained 1m05s ago\s+1\/1\s+0/);
  t.match(plain, /spare\s+1\.0\.0\s+0\s+standby\s+0\/1\s+0/);
  t.match(plain, /store redis \(DOWN\)/);

  const colored = formatStatus(sampleStatus(), { now, color: true });
  t.match(colored, `${GREEN}active`);
  t.match(colored, `${YELLOW}split`);
  t.match(colored, `${YELLOW}draining 1m05s`);
  t.match(colored, `${DIM}drained 1m05s ago`);
  t.match(colored, `${DIM}standby`);
  t.match(colored, `${RED}0/1`, 'a pool with no ready target is red');
  t.match(colored, `${YELLOW}1/2`, 'a partly ready pool is yellow');
  t.match(colored, `${RED}unhealthy`);
  t.match(colored, `${GREEN}healthy`);
  t.match(colored, `${RED}fail ECONNREFUSED 1ms`);
  t.match(colored, `${RED}DOWN`);
  // Stripped of colour, the coloured table is the plain one: padding counts visible characters.
  t.equal(colored.replace(/\x1b\[[0-9;]*m/g, ''), plain);
  t.equal(visibleLength(`${GREEN}abc\x1b[0m`), 3);
  t.equal(table(['A', 'B'], [[paint('x', 'red', true), 'y']]), `A  B\n${RED}x\x1b[0m  y`);
});

t.test('status prints colours when the io says stdout is a terminal, not with NO_COLOR', async (t) => {
  const proxy = await setup(t);
  const tty = capture({ color: true, env: { SWITCHYARD_ADMIN_URL: proxy.admin } });
  t.equal(await runCli(['status'], tty.io), 0, tty.err.join(''));
  t.match(tty.out.join(''), `${GREEN}active`);
  t.match(tty.out.join(''), `${DIM}standby`);
  const noColor = capture({ color: true, env: { SWITCHYARD_ADMIN_URL: proxy.admin, NO_COLOR: '1' } });
  t.equal(await runCli(['status'], noColor.io), 0);
  t.notOk(noColor.out.join('').includes(ESC), 'NO_COLOR wins');
  const piped = capture({ env: { SWITCHYARD_ADMIN_URL: proxy.admin } });
  t.equal(await runCli(['status'], piped.io), 0);
  t.notOk(piped.out.join('').includes(ESC), 'no colours when not a terminal');
  const json = capture({ color: true, env: { SWITCHYARD_ADMIN_URL: proxy.admin } });
  t.equal(await runCli(['status', '--json'], json.io), 0);
  t.notOk(json.out.join('').includes(ESC), '--json is never coloured');
  t.same(JSON.parse(json.out.join('')).weights, { blue: 100, green: 0 });
});

t.test('status --watch redraws every N seconds; each refresh shows the current state', async (t) => {
  const proxy = await setup(t);
  let flipped: Promise<Response> | null = null;
  const run = capture({ env: { SWITCHYARD_ADMIN_URL: proxy.admin } }, (_text, index) => {
    // Between the first and the second refresh, someone flips.
    if (index === 0) flipped = fetch(`${proxy.admin}/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"pool":"green"}' });
  });
  const started = Date.now();
  t.equal(await runCli(['status', '--watch', '0.5', '--watch-count', '2'], run.io), 0, run.err.join(''));
  const elapsed = Date.now() - started;
  t.equal((await flipped!)?.status, 200);
  t.equal(run.out.length, 2, 'two refreshes');
  t.ok(elapsed >= 450, `the second came one interval later (${elapsed} ms)`);
  t.match(run.out[0], /^every 0\.5s: switchyard status · http:\/\/127\.0\.0\.1:\d+ · .* · Ctrl-C stops\n\nrevision 1/);
  t.match(run.out[0], /blue\s+blue-v1\s+100\s+active/);
  t.match(run.out[1], /^\nevery 0\.5s/, 'frames are separated when not redrawing in place');
  t.match(run.out[1], /green\s+green-v1\s+100\s+active/, 'the second refresh shows the flip');
  t.notOk(run.out.join('').includes(ESC), 'no escape codes when not a terminal');
});

t.test('status --watch on a terminal clears the screen each refresh; --json prints one line per refresh', async (t) => {
  const proxy = await setup(t);
  const tty = capture({ color: true, tty: true, env: { SWITCHYARD_ADMIN_URL: proxy.admin } });
  t.equal(await runCli(['status', '--watch', '0.1', '--watch-count', '2'], tty.io), 0, tty.err.join(''));
  t.equal(tty.out.length, 2);
  for (const frame of tty.out) {
    t.ok(frame.startsWith(CLEAR_SCREEN), 'redrawn in place');
    t.match(frame, `${GREEN}active`);
  }

  const json = capture({ color: true, tty: true, env: { SWITCHYARD_ADMIN_URL: proxy.admin } });
  t.equal(await runCli(['status', '--watch=0.1', '--json', '--watch-count', '3'], json.io), 0, json.err.join(''));
  t.equal(json.out.length, 3);
  for (const line of json.out) {
    t.notOk(line.includes('\n'), 'one line per refresh');
    t.same(JSON.parse(line).weights, { blue: 100, green: 0 });
  }
});

t.test('status --watch: bad values are usage errors; a first failure exits 1 with the code; later ones are shown', async (t) => {
  for (const value of ['abc', '0', '-1', '5000']) {
    const run = await cli(['status', `--watch=${value}`], { SWITCHYARD_ADMIN_URL: 'http://127.0.0.1:1' });
    t.equal(run.code, 2, `--watch=${value} → 2`);
    t.match(run.err, /--watch takes seconds from 0\.1 to 3600/);
  }
  const badCount = await cli(['status', '--watch', '--watch-count', 'x'], {});
  t.equal(badCount.code, 2);

  const unreachable = await cli(['status', '--watch', '0.1', '--admin', 'http://127.0.0.1:1'], {});
  t.equal(unreachable.code, 1);
  t.match(unreachable.err, /cannot reach the admin API at http:\/\/127\.0\.0\.1:1/);

  const blue = await startUpstream('blue');
  t.teardown(() => blue.close());
  const locked = await startProxy({ blue: [blue.url] }, { admin: { host: '127.0.0.1', port: 0, token: 's3cret' } });
  t.teardown(() => locked.close());
  const refused = await cli(['status', '--watch', '0.1'], { SWITCHYARD_ADMIN_URL: locked.admin });
  t.equal(refused.code, 1);
  t.match(refused.err, /refused \(401 UNAUTHORIZED\)/, 'the server\'s code is printed');

  // The admin API goes away after the first refresh: the watch says so and carries on.
  const proxy = await startProxy({ blue: [blue.url] });
  let stopping: Promise<void> | null = null;
  const run = capture({ env: { SWITCHYARD_ADMIN_URL: proxy.admin } }, (_text, index) => {
    if (index === 0) stopping = proxy.close();
  });
  t.equal(await runCli(['status', '--watch', '0.3', '--watch-count', '2'], run.io), 0);
  await stopping;
  t.equal(run.out.length, 2);
  t.match(run.out[1], /cannot reach the admin API/);
});

t.test('status --watch stops on Ctrl-C (SIGINT) and exits 0', async (t) => {
  const proxy = await setup(t);
  const proc = spawnCli(['status', '--watch', '0.2', '--admin', proxy.admin]);
  t.teardown(() => void proc.child.kill('SIGKILL'));
  await proc.waitFor(/every 0\.2s[\s\S]*every 0\.2s/);
  proc.child.kill('SIGINT');
  t.equal(await proc.exited, 0);
  t.match(proc.output(), /blue\s+blue-v1\s+100\s+active/);
  t.notOk(proc.output().includes(ESC), 'piped output has no escape codes');
});

t.test('check-config --json: the pools, or every problem', async (t) => {
  const good = await cli(['check-config', 'config/switchyard.yaml', '--json'], {});
  t.equal(good.code, 0, good.err);
  t.match(JSON.parse(good.out), {
    file: 'config/switchyard.yaml', ok: true,
    pools: [{ name: 'blue', version: '1.0.0', targets: ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'] }, { name: 'green' }],
  });
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-check-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'pools: { blue: { targets: ["nope"] } }\nlisen: {}\n');
  const run = await cli(['check-config', bad, '--json'], {});
  t.equal(run.code, 2);
  const body = JSON.parse(run.out);
  t.equal(body.ok, false);
  t.match(body.problems, [/lisen: unknown key|pools\.blue\.targets\[0\]: not a URL/, /lisen: unknown key|pools\.blue\.targets\[0\]: not a URL/]);
  const missing = await cli(['check-config', join(dir, 'none.yaml'), '--json'], {});
  t.equal(missing.code, 2);
  t.match(JSON.parse(missing.out), { ok: false, problems: [/file not found/] });
});

t.test('the targets table shows admin state and weight (effective/declared while slow-starting); an older server shows "-"', async (t) => {
  const status = sampleStatus() as unknown as { pools: Record<string, { targets: Array<Record<string, unknown>> }> };
  Object.assign(status.pools.live!.targets[0]!, { state: 'ready', weight: 100, effectiveWeight: 10 });
  Object.assign(status.pools.canary!.targets[0]!, { state: 'drain', weight: 300, effectiveWeight: 0, ready: false });
  Object.assign(status.pools.canary!.targets[1]!, { state: 'ready', weight: 100, effectiveWeight: 0, removing: true });
  const plain = formatStatus(status as unknown as StatusView, { now: new Date('2026-01-01T00:01:05.000Z') });
  t.match(plain, /POOL\s+TARGET\s+READY\s+STATE\s+WEIGHT\s+HEALTH\s+INFLIGHT\s+LAST CHECK/);
  t.match(plain, /live\s+http:\/\/a:1\s+yes\s+ready\s+10\/100\s+healthy/);
  t.match(plain, /canary\s+http:\/\/b:1\s+no\s+drain\s+300\s+healthy/);
  t.match(plain, /canary\s+http:\/\/b:2\s+no\s+removing\s+100\s+unhealthy/);
  t.match(plain, /old\s+http:\/\/c:1\s+yes\s+ready\s+-\s+healthy/, 'no SPEC §11 fields: state ready, weight -');
});
