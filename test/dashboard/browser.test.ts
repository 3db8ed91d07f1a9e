// The dashboard in a real browser: Debian's chromium driven by playwright-core (nothing is
// downloaded at run time). Asks for the token on 401, flips through the page's button and
// the confirm dialog, shows a refusal's error text, keeps the token in sessionStorage only.
// Shows no notice bar and no Abort/Promote until there is something to show. Drains, puts in
// maintenance and readies a target from its row, through a confirmation in the row. Shows the
// TTL, resolved age and a stale badge of targets a real dnsmasq gives, and warns on the pool
// card while DNS is frozen.
// Leaves screenshots in test/artifacts/dashboard.png, dashboard-skipped.png, dashboard-targets.png
// and dashboard-dns.png.
import t from 'tap';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { chromium, type Browser, type Dialog, type Page } from 'playwright-core';
import { startProxy } from '../helpers/proxy.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';
import { dnsmasqFor, requireDnsmasq } from '../helpers/dnsmasq.js';
import { send, waitFor } from '../helpers/http-client.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic', '--no-first-run'];
const TOKEN = 't0ken';
const bearer = { authorization: `Bearer ${TOKEN}` };
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');

async function adminJson(admin: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) {
  const res = await request(`${admin}${path}`, {
    method,
    headers: body === undefined ? bearer : { ...bearer, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers are asserted field by field
  return { status: res.statusCode, body: await res.body.json() as any };
}

/** Clicks `selector`, answers the confirm dialog it opens, and returns the dialog's text. */
async function clickAndConfirm(page: Page, selector: string, accept = true): Promise<string> {
  // The click only completes once the dialog is answered, so answer it from the event.
  const answered = new Promise<{ type: string; text: string }>((resolve, reject) => page.once('dialog', (dialog: Dialog) => {
    (accept ? dialog.accept() : dialog.dismiss()).then(() => resolve({ type: dialog.type(), text: dialog.message() }), reject);
  }));
  await page.click(selector);
  const { type, text } = await answered;
  t.equal(type, 'confirm', `${selector} asks for confirmation`);
  return text;
}

/** Page script: ids (or classes) of elements that carry `hidden` yet are displayed (a stylesheet's display wins). */
const SHOWN_THOUGH_HIDDEN = "[...document.querySelectorAll('[hidden]')].filter((el) => getComputedStyle(el).display !== 'none').map((el) => el.id || el.className)";

function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60_000 });
}

/** A page that records script errors and console errors in `problems`. */
async function openPage(browser: Browser): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    // Chromium logs every 4xx answer as a failed resource load: a 401 is the token prompt's cue and
    // a 409 the refusal these tests provoke, not bugs.
    if (message.type() === 'error' && !/status of 40[19] /.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  return { page, problems };
}

const missing = !existsSync(CHROMIUM);
if (missing && process.env.CI) {
  t.fail(`${CHROMIUM} is missing: CI must install Debian's chromium (.ci/run does) for the dashboard browser test`);
} else {
  const skip = missing ? `${CHROMIUM} not found (apt-get install chromium); skipping the browser test` : false;
  t.test('the dashboard in chromium', { skip }, async (t) => {
    const blue = await startUpstream('blue', (req, res) => {
      req.resume();
      res.writeHead(req.url === '/boom' ? 502 : 200, { 'content-type': 'text/plain' });
      res.end('blue');
    });
    const green = await startUpstream('green');
    const proxy = await startProxy({
      blue: { version: '1.4.2', targets: [blue.url] },
      green: { version: '1.5.0', targets: [green.url] },
      red: { version: '1.6.0-rc1', targets: [`http://127.0.0.1:${await closedPort()}`] },
    }, { admin: { host: '127.0.0.1', port: 0, token: TOKEN } });

    // Light background traffic (a few 5xx) so the charts have something to draw.
    let running = true;
    const traffic = (async () => {
      for (let i = 0; running; i++) {
        await send(proxy.url, i % 9 === 4 ? '/boom' : '/').catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    })();

    let browser: Browser | undefined;
    t.teardown(async () => {
      running = false;
      await traffic;
      await browser?.close();
      await proxy.close();
      await Promise.all([blue.close(), green.close()]);
    });

    browser = await launch();
    const { page, problems } = await openPage(browser);

    await page.goto(`${proxy.admin}/`);
    await page.waitForSelector('#login', { state: 'visible' });
    t.ok(await page.isHidden('#main'), 'nothing shown before the token');
    t.ok(await page.isHidden('#notice'), 'no (empty) notice bar on load');
    t.same(await page.evaluate(SHOWN_THOUGH_HIDDEN), [], 'every element with the hidden attribute is hidden');
    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('article[data-pool="blue"][data-state="active"]');
    t.ok(await page.isHidden('#login'), 'the token prompt is gone');
    t.same(await page.evaluate("[sessionStorage.length, sessionStorage.getItem('switchyard.adminToken'), localStorage.length]"),
      [1, TOKEN, 0], 'the token is kept in sessionStorage only');
    t.equal(await page.textContent('article[data-pool="green"] .badge'), 'standby');
    t.equal(await page.textContent('article[data-pool="green"] .version'), '1.5.0');
    t.ok(await page.isDisabled('article[data-pool="blue"] button.flip'), 'no flip to the pool that has all traffic');
    t.ok(await page.isHidden('#notice'), 'no notice bar once the data is shown');
    t.ok(await page.isHidden('#rollout-abort'), 'no Abort without a running rollout');
    t.ok(await page.isHidden('#rollout-promote'), 'no Promote without a running rollout');
    t.same(await page.evaluate(SHOWN_THOUGH_HIDDEN), [], 'every element with the hidden attribute is hidden');

    // Cancelled: nothing happens.
    const revision = (await adminJson(proxy.admin, 'GET', '/status')).body.revision as number;
    const question = await clickAndConfirm(page, 'article[data-pool="green"] button.flip', false);
    t.match(question, /Flip all traffic to green \(version 1\.5\.0\)\?/);
    t.equal((await adminJson(proxy.admin, 'GET', '/status')).body.revision, revision, 'a cancelled confirm changes nothing');

    // Confirmed: green takes all traffic, on the page and in the API.
    await clickAndConfirm(page, 'article[data-pool="green"] button.flip');
    await page.waitForSelector('article[data-pool="green"][data-state="active"]');
    t.equal(await page.textContent('article[data-pool="green"] .badge'), 'active', 'the page shows green active');
    t.equal(await page.textContent('article[data-pool="green"] .weight-value'), '100%');
    await page.waitForSelector('article[data-pool="blue"]:is([data-state="draining"], [data-state="drained"])');
    t.match(await page.textContent('#notice'), /Flipped to green/);
    const status = await adminJson(proxy.admin, 'GET', '/status');
    t.equal(status.status, 200);
    t.equal(status.body.pools.green.weight, 100, 'GET /status: green has weight 100');
    t.equal(status.body.pools.green.state, 'active');
    t.match(status.body.updatedBy, /^dashboard@/, 'the audit trail names the dashboard');
    await page.waitForSelector('#events td:text-is("flip")');

    // Refused: red has no healthy target; the server's own error text is shown.
    const expected = await adminJson(proxy.admin, 'POST', '/flip', { pool: 'red' });
    t.equal(expected.status, 409);
    t.equal(expected.body.error.code, 'POOL_UNHEALTHY');
    await page.waitForSelector('article[data-pool="red"] span.health:text-is("unhealthy")');
    await clickAndConfirm(page, 'article[data-pool="red"] button.flip');
    await page.waitForSelector('#notice:not(.ok) >> text=POOL_UNHEALTHY');
    const notice = (await page.textContent('#notice-text')) ?? '';
    t.match(notice, 'POOL_UNHEALTHY', 'the refusal code is shown');
    t.match(notice, expected.body.error.message, 'with the server\'s message');
    t.equal((await adminJson(proxy.admin, 'GET', '/status')).body.pools.green.weight, 100, 'the refused flip changed nothing');

    // The weights slider: two of three pools, so the total shows until it is 100.
    await page.fill('#weight-green', '90');
    t.match(await page.textContent('#weights-sum'), 'must be 100');
    await page.fill('#weight-blue', '10');
    t.match(await page.textContent('#weights-sum'), /^total 100%$/);
    const weightsQuestion = await clickAndConfirm(page, '#weights-apply');
    t.match(weightsQuestion, /blue 10 · green 90 · red 0/);
    await page.waitForSelector('article[data-pool="green"][data-state="split"]');
    t.same((await adminJson(proxy.admin, 'GET', '/status')).body.weights, { blue: 10, green: 90, red: 0 });

    // Back to green at 100 with the roll-back button.
    await clickAndConfirm(page, '#rollback');
    await page.waitForSelector('article[data-pool="green"][data-state="active"]');
    t.equal((await adminJson(proxy.admin, 'GET', '/status')).body.weights.green, 100, 'rolled back to green 100');

    // A reload in the same tab does not ask again.
    await page.reload();
    await page.waitForSelector('article[data-pool="green"][data-state="active"]');
    t.ok(await page.isHidden('#login'), 'the token is asked for once per tab');

    // A refusal on screen, a running rollout, and some traffic in the charts: the screenshot.
    await clickAndConfirm(page, 'article[data-pool="red"] button.flip');
    await page.waitForSelector('#notice:not(.ok) >> text=POOL_UNHEALTHY');
    const spec = { pool: 'blue', steps: [10, 50, 100], intervalMs: 60_000, maxErrorRate: 0.5 };
    t.equal((await adminJson(proxy.admin, 'POST', '/rollout', spec)).status, 202);
    await page.waitForSelector('#rollout .phase:text-is("RUNNING")');
    t.match(await page.textContent('#rollout'), /blue — RUNNING · step 1\/3 \(10%\)/);
    t.ok(await page.isVisible('#rollout-abort') && await page.isEnabled('#rollout-abort'), 'Abort is offered while a rollout runs');
    t.ok(await page.isVisible('#rollout-promote') && await page.isEnabled('#rollout-promote'), 'Promote is offered while a rollout runs');
    await waitFor('green traffic on the chart', async () => Number(await page.textContent('article[data-pool="green"] .rps-now')) > 0,
      { timeoutMs: 5000, intervalMs: 100 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

    // Abort restores the weights from before the rollout.
    t.match(await clickAndConfirm(page, '#rollout-abort'), /Abort the rollout of blue and restore blue 0 · green 100 · red 0\?/);
    await page.waitForSelector('#rollout .phase:text-is("ABORTED")');
    await page.waitForSelector('#rollout-promote', { state: 'hidden' });
    t.ok(await page.isHidden('#rollout-abort'), 'no Abort after an abort');
    t.same((await adminJson(proxy.admin, 'GET', '/status')).body.weights, { blue: 0, green: 100, red: 0 }, 'abort restored green 100');

    // Promote sends the pool to 100 at once.
    t.equal((await adminJson(proxy.admin, 'POST', '/rollout', spec)).status, 202);
    await page.waitForSelector('#rollout .phase:text-is("RUNNING")');
    await clickAndConfirm(page, '#rollout-promote');
    await page.waitForSelector('#rollout .phase:text-is("PROMOTED")');
    await page.waitForSelector('article[data-pool="blue"][data-state="active"]');
    t.equal((await adminJson(proxy.admin, 'GET', '/status')).body.weights.blue, 100, 'promote gave blue all traffic');
    await page.waitForSelector('#rollout-actions', { state: 'hidden' });

    // A rollout from 30: the steps at or below it are shown struck out, with why.
    const thirty = await request(`${proxy.admin}/weights`, { method: 'PUT', headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ weights: { blue: 70, green: 30, red: 0 } }) });
    t.equal(thirty.statusCode, 200);
    await thirty.body.dump();
    t.equal((await adminJson(proxy.admin, 'POST', '/rollout', { ...spec, pool: 'green', steps: [10, 25, 50, 100] })).status, 202);
    await page.waitForSelector('#rollout .steps span.now:text-is("50%")');
    t.same(await page.$$eval('#rollout .steps span.skipped', (spans) => spans.map((span) => span.textContent)), ['10%', '25%']);
    t.match(await page.textContent('#rollout .skipped-note'), /skipped 10%, 25%: green was at 30 already/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-skipped.png'), fullPage: true });
    t.equal((await adminJson(proxy.admin, 'POST', '/rollout/abort')).status, 200);
    t.same(problems, [], 'no script errors in the page');
    const width = await page.evaluate('document.documentElement.scrollWidth');
    t.ok((width as number) <= 1280, `nothing overflows the 1280 px viewport (scroll width ${String(width)})`);
  });

  t.test('target rows in chromium: state, weights, drain / maint / ready confirmed in the row', { skip }, async (t) => {
    const [one, two, green] = await Promise.all([startUpstream('one'), startUpstream('two'), startUpstream('green')]);
    const proxy = await startProxy({
      blue: { version: '2.0.0', targets: [one.url, two.url] },
      green: { version: '2.1.0', targets: [green.url] },
    }, { admin: { host: '127.0.0.1', port: 0, token: TOKEN }, slowStart: { windowMs: 600_000, aggression: 1, minWeightPercent: 10 } });
    let browser: Browser | undefined;
    t.teardown(async () => {
      await browser?.close();
      await proxy.close();
      await Promise.all([one.close(), two.close(), green.close()]);
    });
    const idOf = (url: string) => new URL(url).host;
    const row = (pool: string, url: string) => `article[data-pool="${pool}"] li[data-target="${idOf(url)}"]`;
    const stateOf = async (pool: string, url: string) => {
      const list = await adminJson(proxy.admin, 'GET', `/pools/${pool}/targets`);
      t.equal(list.status, 200);
      return (list.body as { id: string; state: string }[]).find((target) => target.id === idOf(url))?.state;
    };

    browser = await launch();
    const { page, problems } = await openPage(browser);
    page.on('dialog', (dialog) => {
      problems.push(`a ${dialog.type()} dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    await page.goto(`${proxy.admin}/`);
    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    const first = row('blue', one.url);
    await page.waitForSelector(`${first}[data-state="ready"] .dot.healthy`);
    t.equal(await page.textContent(`${first} .target-state`), 'ready');
    t.equal(await page.textContent(`${first} .target-weight`), '100');
    t.equal(await page.textContent(`${first} .target-effective`), '100', 'a target of the first config starts at full weight');
    t.ok(await page.isDisabled(`${first} button.target-ready`), 'no Ready on a ready target');
    t.ok(await page.isHidden(`${first} .target-confirm`), 'no confirmation before a click');

    // Cancelled: the question waits in the row across polls, Cancel sends nothing.
    await page.click(`${first} button.target-drain`);
    await page.waitForSelector(`${first} .target-confirm`, { state: 'visible' });
    t.match(await page.textContent(`${first} .confirm-text`), `Drain ${idOf(one.url)}?`);
    const shown = await page.textContent('#live');
    await waitFor('the next poll', async () => (await page.textContent('#live')) !== shown, { timeoutMs: 5000, intervalMs: 50 });
    t.ok(await page.isVisible(`${first} .target-confirm`), 'the question outlives a refresh of the page');
    await page.click(`${first} .confirm-cancel`);
    await page.waitForSelector(`${first} .target-confirm`, { state: 'hidden' });
    t.equal(await stateOf('blue', one.url), 'ready', 'a cancelled drain changes nothing');
    t.equal(await page.getAttribute(first, 'data-state'), 'ready');

    // Confirmed: drained on the page and in the API.
    await page.click(`${first} button.target-drain`);
    await page.click(`${first} .confirm-ok`);
    await page.waitForSelector(`${first}[data-state="drain"]`);
    t.equal(await page.textContent(`${first} .target-state`), 'drain', 'the row shows the new state');
    t.equal(await stateOf('blue', one.url), 'drain', 'GET /pools/blue/targets: drain');
    t.match(await page.textContent('#notice-text'), `blue ${idOf(one.url)} is now drain`);
    await page.waitForSelector(`${first} .target-drained:text-matches("drained [0-9]+ s ago")`);
    t.equal(await page.textContent(`${first} .target-effective`), '0', 'a drained target takes no share');
    t.equal(await page.textContent(`${first} .target-weight`), '100', 'its weight is kept for its return');
    await page.waitForSelector(`#events td:text-is("blue ${idOf(one.url)}: ready 100 → drain 100")`);

    // Refused: the pool's last ready target. The error is shown, the row offers the change with force, nothing changed.
    const second = row('blue', two.url);
    await page.click(`${second} button.target-drain`);
    await page.click(`${second} .confirm-ok`);
    await page.waitForSelector('#notice:not(.ok) >> text=LAST_TARGET');
    t.match(await page.textContent(`${second} .confirm-error`), /Refused: LAST_TARGET/);
    t.equal(await page.textContent(`${second} .confirm-ok`), 'Drain anyway', 'the row offers to force it');
    t.equal(await stateOf('blue', two.url), 'ready', 'the refused drain changed nothing');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-targets.png'), fullPage: true });
    await page.click(`${second} .confirm-cancel`);
    await page.waitForSelector(`${second} .target-confirm`, { state: 'hidden' });
    t.equal(await stateOf('blue', two.url), 'ready');

    // Maintenance for green's target (green has no traffic, so it is not the last of a pool with weight).
    const greenRow = row('green', green.url);
    await page.click(`${greenRow} button.target-maint`);
    t.match(await page.textContent(`${greenRow} .confirm-text`), /maintenance/);
    await page.click(`${greenRow} .confirm-ok`);
    await page.waitForSelector(`${greenRow}[data-state="maint"]`);
    t.equal(await stateOf('green', green.url), 'maint');

    // Ready again: back in rotation, at the slow-start floor (10% of a 10-minute window).
    await page.click(`${first} button.target-ready`);
    await page.click(`${first} .confirm-ok`);
    await page.waitForSelector(`${first}[data-state="ready"]`);
    t.equal(await stateOf('blue', one.url), 'ready');
    await page.waitForSelector(`${first} .target-effective:text-is("10")`);
    t.equal(await page.textContent(`${first} .target-weight`), '100');
    t.equal(await page.textContent(`${first} .target-drained`), '', 'no drain note on a ready target');
    t.same(problems, [], 'no script errors and no browser dialogs');
  });

  t.test('discovered targets in chromium: source, TTL, resolved age, stale badge and the pool\'s DNS warning', { skip }, async (t) => {
    if (!requireDnsmasq(t)) return;
    const dns = await dnsmasqFor(t, { ttlSeconds: 1 });
    const hosts = ['127.0.0.2', '127.0.0.3'];
    const first = await startUpstream(hosts[0]!, undefined, 0, hosts[0]);
    const second = await startUpstream(hosts[1]!, undefined, first.port, hosts[1]);
    const green = await startUpstream('green');
    await dns.setRecords({ 'app.switchyard.test': hosts });
    const proxy = await startProxy({
      blue: { version: '3.0.0', discover: { dns: 'app.switchyard.test', port: first.port } },
      green: { version: '3.1.0', targets: [green.url] },
    }, {
      admin: { host: '127.0.0.1', port: 0, token: TOKEN },
      resolver: { servers: [dns.server] },
      healthCheck: { intervalMs: 200, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 },
    });
    let browser: Browser | undefined;
    let frozen = false;
    t.teardown(async () => {
      if (frozen) dns.thaw();
      await browser?.close();
      await proxy.close();
      await Promise.all([first.close(), second.close(), green.close()]);
    });
    const blueRows = hosts.map((host) => `article[data-pool="blue"] li[data-target="${host}:${first.port}"]`);
    const greenRow = `article[data-pool="green"] li[data-target="${new URL(green.url).host}"]`;
    const card = (pool: string) => `article[data-pool="${pool}"] .discovery`;

    browser = await launch();
    const { page, problems } = await openPage(browser);
    await page.goto(`${proxy.admin}/`);
    await page.fill('#token', TOKEN);
    await page.click('#login button[type=submit]');
    for (const row of blueRows) {
      await page.waitForSelector(`${row}[data-state="ready"] .dot.healthy`);
      t.equal(await page.textContent(`${row} .target-source`), 'dns');
      t.ok(await page.isVisible(`${row} .target-dns`), 'a dns target shows its DNS line');
      t.equal(await page.textContent(`${row} .target-ttl`), '1 s');
      t.match(await page.textContent(`${row} .target-resolved`), /^\d+ s ago$/);
      t.ok(await page.isHidden(`${row} .stale-badge`), 'no stale badge while DNS answers');
    }
    await page.waitForSelector(`${greenRow} .dot.healthy`);
    t.equal(await page.textContent(`${greenRow} .target-source`), 'config');
    t.ok(await page.isHidden(`${greenRow} .target-dns`), 'no DNS line on a config target');
    t.equal(await page.getAttribute(card('blue'), 'data-state'), 'ok');
    t.match(await page.textContent(card('blue')), /^DNS ok · TTL 1 s · resolved \d+ s ago$/);
    t.notOk(await page.$eval(card('blue'), (el) => el.classList.contains('warn')), 'no warning while DNS answers');
    t.ok(await page.isHidden(card('green')), 'a pool that does not discover has no DNS line');

    // Frozen DNS: queries time out, the pool holds its targets; the card warns, each row has the badge.
    dns.freeze();
    frozen = true;
    await page.waitForSelector(`${card('blue')}[data-state="stale"]`, { timeout: 15_000 });
    t.match(await page.textContent(card('blue')), /^DNS stale \(TIMEOUT\): holding the last good set from \d+ s ago$/);
    t.ok(await page.$eval(card('blue'), (el) => el.classList.contains('warn')), 'shown as a warning');
    for (const row of blueRows) {
      await page.waitForSelector(`${row} .stale-badge`, { state: 'visible' });
      t.equal(await page.getAttribute(row, 'data-state'), 'ready', 'a stale target stays in rotation');
    }
    t.ok(await page.isHidden(card('green')));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-dns.png'), fullPage: true });

    // DNS answers again: the warning and the badges go.
    dns.thaw();
    frozen = false;
    await page.waitForSelector(`${card('blue')}[data-state="ok"]`, { timeout: 15_000 });
    for (const row of blueRows) await page.waitForSelector(`${row} .stale-badge`, { state: 'hidden' });
    t.same(await page.evaluate(SHOWN_THOUGH_HIDDEN), [], 'every element with the hidden attribute is hidden');
    t.same(problems, [], 'no script errors in the page');
    const width = await page.evaluate('document.documentElement.scrollWidth');
    t.ok((width as number) <= 1280, `nothing overflows the 1280 px viewport (scroll width ${String(width)})`);
  });
}
