// routing.stickyCookie on real sockets: clients keep their pool during a split, move (with a
// rewritten cookie) when their pool drops to 0, garbage cookies are replaced, and every other
// cookie reaches the upstream untouched.
import t, { type Test } from 'tap';
import { Agent } from 'node:http';
import { send, type Answer } from '../helpers/http-client.js';
import { proxyFor, upstreamFor } from '../helpers/data-plane.js';
import type { TestProxy } from '../helpers/proxy.js';

const COOKIE = 'switchyard-pool';
const setCookieFor = (pool: string) => `${COOKIE}=${pool}; Path=/; HttpOnly; SameSite=Lax`;

const nameOf = (answer: Answer) => (JSON.parse(answer.body.toString()) as { name: string }).name;
const seenCookie = (answer: Answer) => (JSON.parse(answer.body.toString()) as { headers: Record<string, string> }).headers.cookie;

/** The Set-Cookie lines of an answer. */
function setCookies(answer: Answer): string[] {
  const value = answer.headers['set-cookie'];
  return value === undefined ? [] : value;
}

/** A client with a cookie jar of its own (only our cookie matters here). */
class Client {
  cookie: string | undefined;
  pools: string[] = [];
  setCookies: string[][] = [];

  async get(proxy: TestProxy, path: string, agent: Agent): Promise<Answer> {
    const answer = await send(proxy.url, path, { agent, headers: this.cookie === undefined ? {} : { cookie: this.cookie } });
    if (answer.status !== 200) throw new Error(`${path}: ${answer.status}`);
    this.pools.push(nameOf(answer));
    const lines = setCookies(answer);
    this.setCookies.push(lines);
    for (const line of lines) this.cookie = line.split(';')[0];
    return answer;
  }
}

async function setWeights(proxy: TestProxy, weights: Record<string, number>): Promise<void> {
  const response = await fetch(`${proxy.admin}/weights`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ weights }) });
  if (response.status !== 200) throw new Error(`weights: ${response.status} ${await response.text()}`);
  await response.text();
}

/** Runs `work` for every item, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

async function setup(t: Test) {
  const blue = await upstreamFor(t, 'blue');
  const green = await upstreamFor(t, 'green');
  const proxy = await proxyFor(t, { blue: [blue.url], green: [green.url] }, {
    routing: { initial: { blue: 50, green: 50 }, stickyCookie: COOKIE, poolHeader: 'x-switchyard-pool' },
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  t.teardown(() => agent.destroy());
  return { proxy, blue, green, agent };
}

t.test('1,000 clients during a 50/50 split never switch pools; a flip moves the stranded ones with a new cookie', async (t) => {
  const { proxy, agent } = await setup(t);
  const clients = Array.from({ length: 1000 }, () => new Client());
  await eachLimited(clients, 32, async (client) => {
    for (let i = 0; i < 6; i++) await client.get(proxy, `/r${i}`, agent);
  });

  const first = { blue: 0, green: 0 } as Record<string, number>;
  let switched = 0;
  let cookieOnFirst = 0;
  let cookieLater = 0;
  for (const client of clients) {
    const pool = client.pools[0]!;
    first[pool]!++;
    if (client.pools.some((served) => served !== pool)) switched++;
    if (client.setCookies[0]!.length === 1 && client.setCookies[0]![0] === setCookieFor(pool)) cookieOnFirst++;
    cookieLater += client.setCookies.slice(1).reduce((sum, lines) => sum + lines.length, 0);
  }
  t.equal(switched, 0, 'no client ever switched pools');
  t.equal(cookieOnFirst, 1000, 'every first response set the cookie naming the pool that served it');
  t.equal(cookieLater, 0, 'requests with a valid current cookie get no Set-Cookie');
  t.ok(first.blue! >= 450 && first.blue! <= 550, `first requests split ~50/50 (blue ${first.blue}, green ${first.green})`);
  t.equal(first.blue! + first.green!, 1000);

  // 90/10: green keeps weight, so its clients stay.
  await setWeights(proxy, { blue: 90, green: 10 });
  const greens = clients.filter((client) => client.pools[0] === 'green');
  const blues = clients.filter((client) => client.pools[0] === 'blue');
  await eachLimited(greens, 32, async (client) => void await client.get(proxy, '/after-90-10', agent));
  t.ok(greens.every((client) => client.pools.at(-1) === 'green' && client.setCookies.at(-1)!.length === 0),
    'at 90/10 the green clients stay on green, cookie untouched');

  // Flip to blue: green drops to 0; its clients move and get a rewritten cookie, once.
  await setWeights(proxy, { blue: 100, green: 0 });
  await eachLimited(greens, 32, async (client) => {
    await client.get(proxy, '/after-flip', agent);
    await client.get(proxy, '/after-flip-again', agent);
  });
  t.ok(greens.every((client) => client.pools.at(-2) === 'blue' && client.pools.at(-1) === 'blue'), 'stranded green clients moved to blue');
  t.ok(greens.every((client) => client.setCookies.at(-2)!.join() === setCookieFor('blue')), 'each got its cookie rewritten to blue');
  t.ok(greens.every((client) => client.setCookies.at(-1)!.length === 0), 'and then no Set-Cookie: the new cookie is valid');
  await eachLimited(blues.slice(0, 100), 32, async (client) => void await client.get(proxy, '/blue-after-flip', agent));
  t.ok(blues.slice(0, 100).every((client) => client.pools.at(-1) === 'blue' && client.setCookies.at(-1)!.length === 0),
    'blue clients are untouched by the flip');
});

t.test('garbage or stale cookie values are replaced; the pool header and upstream cookies stay', async (t) => {
  const { proxy } = await setup(t);
  for (const value of ['purple', '', 'BLUE', '../../etc', 'blue green', '%62lue']) {
    const answer = await send(proxy.url, '/garbage', { headers: { cookie: `${COOKIE}=${value}` } });
    t.equal(answer.status, 200);
    t.strictSame(setCookies(answer), [setCookieFor(nameOf(answer))], `${JSON.stringify(value)} → weighted choice, cookie replaced`);
    t.equal(answer.headers['x-switchyard-pool'], nameOf(answer), 'the pool header is still there');
  }
  const quoted = await send(proxy.url, '/quoted', { headers: { cookie: `${COOKIE}="green"` } });
  t.equal(nameOf(quoted), 'green', 'a quoted value is read');
  t.strictSame(setCookies(quoted), []);
});

t.test('other cookies reach the upstream untouched, and upstream Set-Cookie lines are kept beside ours', async (t) => {
  const blue = await upstreamFor(t, 'blue', (req, res) => {
    req.resume();
    res.setHeader('set-cookie', ['session=abc; Path=/; Secure', 'theme=dark']);
    res.end(JSON.stringify({ name: 'blue', headers: req.headers }));
  });
  const proxy = await proxyFor(t, { blue: [blue.url] }, { routing: { stickyCookie: COOKIE } });
  const cookie = `a=1; session="x y"; ${COOKIE}=purple; z=%3B;zz=`;
  const answer = await send(proxy.url, '/cookies', { headers: { cookie } });
  t.equal(seenCookie(answer), cookie, 'the Cookie header reaches the upstream byte for byte');
  t.strictSame(setCookies(answer), ['session=abc; Path=/; Secure', 'theme=dark', setCookieFor('blue')],
    'the upstream cookies, in order, then ours');

  const kept = await send(proxy.url, '/cookies', { headers: { cookie: `a=1; ${COOKIE}=blue` } });
  t.strictSame(setCookies(kept), ['session=abc; Path=/; Secure', 'theme=dark'], 'a valid cookie: only the upstream ones');
  t.equal(seenCookie(kept), `a=1; ${COOKIE}=blue`);
});

t.test('errors answered by the proxy carry no cookie', async (t) => {
  const blue = await upstreamFor(t, 'blue');
  const proxy = await proxyFor(t, { blue: [blue.url], green: ['http://127.0.0.1:1'] }, {
    routing: { initial: { blue: 0, green: 100 }, stickyCookie: COOKIE },
    retries: { attempts: 0 },
  });
  const answer = await send(proxy.url, '/down');
  t.equal(answer.status, 502);
  t.strictSame(setCookies(answer), [], 'a 502 from the proxy sets no cookie');
});
