// SPEC §10: a tunnel is its target's. It counts in the target's in-flight while open (status
// shows it, least-in-flight picking sees it), obeys limits.maxConnectionsPerTarget (503 +
// Retry-After beyond it), feeds passive health like plain requests (connect failures and 5xx
// answers, never the client's mistakes), and retries a failed connect on another target.
import t from 'tap';
import { Flag } from '../../src/pool/health-flags.js';
import { closedPort } from '../helpers/upstream.js';
import { send, waitFor, withDeadline } from '../helpers/http-client.js';
import { accessFor, accessLines, assertServes } from '../helpers/data-plane.js';
import {
  closed, echo, halfOpenClient, openWs, parseAnswer, pool, recordingUpstreamFor, tunnelProxyFor, upgradeHead, wsUpstreamFor,
} from '../helpers/tunnel.js';
import type { TestProxy } from '../helpers/proxy.js';

interface TargetStatus { url: string; inflight: number; ejected: boolean }

async function targetsInStatus(proxy: TestProxy, name: string): Promise<TargetStatus[]> {
  const status = (await (await fetch(`${proxy.admin}/status`)).json()) as { pools: Record<string, { targets: TargetStatus[] }> };
  return status.pools[name]!.targets;
}

t.test("an open tunnel counts in its target's in-flight: status shows it, and plain requests go to the other target", async (t) => {
  const a = await wsUpstreamFor(t, 'a', { onRequest: (_req, res) => res.end('a') });
  const b = await wsUpstreamFor(t, 'b', { onRequest: (_req, res) => res.end('b') });
  const proxy = await tunnelProxyFor(t, { blue: [a.url, b.url] });
  const blue = pool(proxy, 'blue');

  const ws = await openWs(t, proxy.url, '/held');
  const busy = a.open.size === 1 ? a : b;
  const idle = busy === a ? b : a;
  const busyTarget = blue.targets.find((target) => target.url === busy.url)!;
  t.equal(busyTarget.inflight, 1, 'the tunnel is in its target\'s in-flight');
  t.same((await targetsInStatus(proxy, 'blue')).map((target) => target.inflight), blue.targets.map((target) => (target === busyTarget ? 1 : 0)),
    'GET /status shows it');
  t.equal(blue.inflight, 0, 'but not in the pool\'s in-flight requests (it is a long-lived connection)');
  t.equal(blue.longLived, 1);

  // Least in-flight: while the tunnel is open, every plain request goes to the other target
  // (round robin alone would alternate).
  const served: string[] = [];
  for (let i = 0; i < 6; i++) served.push((await send(proxy.url, `/plain/${i}`)).body.toString());
  t.same(served, Array(6).fill(idle === a ? 'a' : 'b'), 'all six to the idle target');

  ws.close();
  await closed(ws);
  await waitFor('in-flight back to 0', () => busyTarget.inflight === 0 && blue.longLived === 0);
  t.same((await targetsInStatus(proxy, 'blue')).map((target) => target.inflight), [0, 0], 'status shows 0 after');
  t.equal(busyTarget.tunnels.size, 0);
  t.equal(busyTarget.detached, 0);
});

t.test('limits.maxConnectionsPerTarget: with 2, the third tunnel gets 503 + Retry-After; a slot freed is usable again', async (t) => {
  const upstream = await wsUpstreamFor(t, 'blue');
  const proxy = await tunnelProxyFor(t, { blue: [upstream.url] }, { limits: { maxConnectionsPerTarget: 2 } });
  const target = pool(proxy, 'blue').targets[0]!;
  const first = await openWs(t, proxy.url, '/one');
  const second = await openWs(t, proxy.url, '/two');
  t.equal(target.detached, 2, 'two upstream sockets out of the pool, in tunnels');

  const third = halfOpenClient(proxy.url, upgradeHead('/three'));
  t.teardown(() => third.socket.destroy());
  await withDeadline(third.ended, 5000, 'the 503');
  const answer = parseAnswer(third.received());
  t.equal(answer.status, 503, 'beyond the cap: 503');
  t.same(answer.headers.get('retry-after'), ['1']);
  t.match(answer.body.toString(), /connection cap/);
  t.match(await accessFor(proxy, '/three'), { status: 503, pool: 'blue', target: null, error: 'connection cap' });
  t.equal(upstream.seen.length, 2, 'the third never reached the upstream');
  t.ok(target.ready, 'a refusal at the cap is not the target\'s failure');

  t.equal((await echo(first, 'still')).data.toString(), 'blue:still', 'the open tunnels are untouched');
  second.close();
  await closed(second);
  await waitFor('one slot free', () => target.detached === 1);
  const again = await openWs(t, proxy.url, '/again');
  t.equal((await echo(again, 'x')).data.toString(), 'blue:x', 'a freed slot takes a new tunnel');
  first.close();
  again.close();
  await Promise.all([closed(first), closed(again)]);
});

t.test('the cap is per target: with two targets at 1 each, two tunnels open (one each), the third is 503', async (t) => {
  const a = await wsUpstreamFor(t, 'a');
  const b = await wsUpstreamFor(t, 'b');
  const proxy = await tunnelProxyFor(t, { blue: [a.url, b.url] }, { limits: { maxConnectionsPerTarget: 1 } });
  const one = await openWs(t, proxy.url, '/one');
  const two = await openWs(t, proxy.url, '/two');
  t.same([a.open.size, b.open.size], [1, 1], 'one tunnel on each target');
  const third = halfOpenClient(proxy.url, upgradeHead('/three'));
  t.teardown(() => third.socket.destroy());
  await withDeadline(third.ended, 5000, 'the 503');
  t.equal(parseAnswer(third.received()).status, 503);
  one.close();
  two.close();
  await Promise.all([closed(one), closed(two)]);
});

t.test('passive health: a target refusing connections is ejected by upgrade attempts (each retried on the other: no client sees an error)', async (t) => {
  const live = await wsUpstreamFor(t, 'live');
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const proxy = await tunnelProxyFor(t, { blue: [dead, live.url] }, { passive: { consecutiveFailures: 3, ejectMs: 60_000 }, retries: { attempts: 1 } });
  const deadTarget = pool(proxy, 'blue').targets[0]!;
  let attempts = 0;
  while (!deadTarget.health.has(Flag.EJECTED) && attempts < 20) {
    const ws = await openWs(t, proxy.url, `/attempt/${attempts++}`);
    ws.close();
    await closed(ws);
  }
  t.ok(deadTarget.health.has(Flag.EJECTED), `the refusing target was ejected (after ${attempts} upgrades)`);
  await waitFor('every record', () => accessLines(proxy).filter((line) => line.url.startsWith('/attempt/')).length === attempts);
  const lines = accessLines(proxy).filter((line) => line.url.startsWith('/attempt/'));
  t.ok(lines.every((line) => line.status === 101 && line.target === live.url), 'every upgrade ended on the live target with a 101');
  t.equal(lines.filter((line) => line.retries === 1).length, 3, 'three of them were retries after the refused connect');
  t.ok((await targetsInStatus(proxy, 'blue'))[0]!.ejected, 'status shows it ejected');
});

t.test('passive health: 5xx answers to the upgrade count too', async (t) => {
  const live = await wsUpstreamFor(t, 'live');
  const failing = await recordingUpstreamFor(t, () => 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy');
  const proxy = await tunnelProxyFor(t, { blue: [failing.url, live.url] }, { passive: { consecutiveFailures: 3, ejectMs: 60_000 } });
  const failingTarget = pool(proxy, 'blue').targets[0]!;
  let served = 0;
  for (let i = 0; i < 12 && !failingTarget.health.has(Flag.EJECTED); i++) {
    const client = halfOpenClient(proxy.url, upgradeHead(`/try/${i}`));
    t.teardown(() => client.socket.destroy());
    await waitFor(`/try/${i}: an answer head`, () => client.received().includes('\r\n\r\n'));
    if (client.received().toString('latin1').startsWith('HTTP/1.1 503')) served++;
    client.socket.destroy();
  }
  t.ok(failingTarget.health.has(Flag.EJECTED), 'ejected');
  t.equal(served, 3, 'after three relayed 503s');
});

t.test("the client's mistakes and departures never count against a target", async (t) => {
  // `mute` accepts upgrades and never answers, so a client can leave in the middle of the handshake.
  const muted: unknown[] = [];
  const mute = await wsUpstreamFor(t, 'mute', { onUpgrade: (_req, socket) => (muted.push(socket), true) });
  const live = await wsUpstreamFor(t, 'live');
  const proxy = await tunnelProxyFor(t, { blue: [mute.url, live.url] }, { passive: { consecutiveFailures: 2, ejectMs: 60_000 } });
  const [muteTarget, liveTarget] = pool(proxy, 'blue').targets;
  const mistakes = [
    upgradeHead('/body', ['Content-Length: 3']) + 'abc',
    upgradeHead('/chunked', ['Transfer-Encoding: chunked']) + '0\r\n\r\n',
    upgradeHead('/hosts', ['Host: second.example']),
    upgradeHead('/bad-host').replace('Host: tunnel.example', 'Host: bad host'),
  ];
  for (let round = 0; round < 3; round++) {
    for (const text of mistakes) {
      const client = halfOpenClient(proxy.url, text);
      t.teardown(() => client.socket.destroy());
      await withDeadline(client.ended, 5000, 'the 400');
      t.equal(parseAnswer(client.received()).status, 400);
    }
  }
  // Clients leaving during the handshake with `mute`: at least the failure threshold of them.
  let left = 0;
  for (let i = 0; left < 3 && i < 12; i++) {
    const before = muted.length;
    const client = halfOpenClient(proxy.url, upgradeHead(`/leave/${i}`));
    await waitFor('the upgrade at an upstream', () => muted.length > before || client.received().length > 0);
    client.socket.destroy();
    if (muted.length > before) left++;
  }
  t.equal(left, 3, 'three clients left mid-handshake on mute');
  await waitFor('every leaver recorded', () => accessLines(proxy).filter((line) => line.status === 499).length === 3);
  t.ok(muteTarget!.ready && liveTarget!.ready, 'no target ejected');
  t.equal(muteTarget!.inflight, 0);
  await assertServes(t, proxy);
});
