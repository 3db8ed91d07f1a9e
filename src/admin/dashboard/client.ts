// The dashboard's script, served as-is (no build step). It polls the admin API every second,
// renders with DOM nodes and textContent only (event reasons and actor names come from
// callers, so nothing is ever parsed as HTML), and asks for the admin token only when the
// API answers 401, keeping it in sessionStorage. Mutations send the revision on screen as
// If-Match, so an action confirmed on stale state is refused (412) instead of applied.
// A target's state (drain, maint, ready) is changed from its row, after a confirmation shown
// in the row itself: it survives the next poll, which redraws the list every second.
// Targets from DNS (SPEC §12) show their TTL, when an answer last listed them and a stale
// badge while the pool holds them through DNS failures; the pool card warns then.
//
// Kept free of backquotes and dollar-brace so it can live in this raw template string.

export const CLIENT_JS = String.raw`'use strict';
(() => {
  const POLL_MS = 1000;
  const TOKEN_KEY = 'switchyard.adminToken';
  const ACTOR = 'dashboard';
  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(TOKEN_KEY);
  let status = null;
  let rollout = null;
  let timer = null;
  let polling = false;
  let weightsDirty = false;
  let draft = {};
  const cards = new Map();
  // The target change waiting for the operator's OK: { pool, id, state, force, error } or null.
  let pending = null;

  class Unauthorized extends Error {}

  // h('div', { className: 'x', onclick: f }, child, 'text', ...)
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else if (key in el && key !== 'list') el[key] = value;
      else el.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    const el = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
    return el;
  }

  // revision: the routing revision the operator saw when confirming (routing changes only).
  async function api(method, path, body, revision) {
    const headers = { accept: 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    const init = { method, headers, cache: 'no-store' };
    if (method !== 'GET') {
      headers['x-switchyard-actor'] = ACTOR;
      if (revision !== undefined) headers['if-match'] = '"' + revision + '"';
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body || {});
    }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    if (res.status === 401) {
      askToken(token ? 'That token was refused. Enter the admin token:' : null);
      throw new Unauthorized('a valid bearer token is required');
    }
    if (!res.ok) {
      const error = data && data.error;
      const err = new Error(error ? error.code + ': ' + error.message : 'HTTP ' + res.status);
      err.code = error ? error.code : String(res.status);
      throw err;
    }
    return data;
  }

  // ---- token ----
  function askToken(message) {
    stopPolling();
    $('main').hidden = true;
    $('login').hidden = false;
    if (message) $('login-message').textContent = message;
    setLive('down', 'token needed');
    $('token').focus();
  }

  $('login').addEventListener('submit', (event) => {
    event.preventDefault();
    token = $('token').value.trim();
    $('token').value = '';
    sessionStorage.setItem(TOKEN_KEY, token);
    $('login').hidden = true;
    poll();
  });

  // ---- notices ----
  function notify(text, ok) {
    $('notice-text').textContent = text;
    $('notice').classList.toggle('ok', Boolean(ok));
    $('notice').hidden = false;
  }
  $('notice-close').addEventListener('click', () => { $('notice').hidden = true; });

  function setLive(state, text) {
    $('live').dataset.state = state;
    $('live').textContent = text;
  }

  // ---- polling ----
  function stopPolling() {
    clearTimeout(timer);
    timer = null;
  }

  async function poll() {
    stopPolling();
    if (polling) return;
    polling = true;
    let again = true;
    try {
      const [nextStatus, stats, nextRollout] = await Promise.all([api('GET', 'status'), api('GET', 'stats'), api('GET', 'rollout')]);
      status = nextStatus;
      rollout = nextRollout.rollout;
      $('login').hidden = true;
      $('main').hidden = false;
      renderSummary();
      renderPools(stats.pools || {});
      renderSliders();
      renderRollout();
      setLive('live', 'live · ' + new Date().toLocaleTimeString());
      try {
        renderEvents((await api('GET', 'events?limit=15')).events);
      } catch (err) {
        if (err instanceof Unauthorized) throw err;
        renderEvents(null, err.message);
      }
    } catch (err) {
      if (err instanceof Unauthorized) again = false;
      else setLive('down', 'disconnected: ' + err.message);
    } finally {
      polling = false;
    }
    if (again) timer = setTimeout(poll, POLL_MS);
  }

  // ---- actions ----
  async function act(question, method, path, body, done, routing) {
    const revision = routing ? status.revision : undefined;
    if (!window.confirm(question)) return;
    try {
      const result = await api(method, path, body, revision);
      notify(done(result), true);
    } catch (err) {
      if (!(err instanceof Unauthorized)) notify('Refused — ' + err.message, false);
    }
    weightsDirty = false;
    poll();
  }

  const weightsText = (weights) => Object.entries(weights || {}).map(([pool, weight]) => pool + ' ' + weight).join(' · ');

  function flip(name) {
    const pool = status.pools[name];
    act('Flip all traffic to ' + name + ' (version ' + pool.version + ')?', 'POST', 'flip', { pool: name },
      (next) => 'Flipped to ' + name + ' (revision ' + next.revision + ').', true);
  }

  $('rollback').addEventListener('click', () => {
    act('Roll back to ' + weightsText(status.previous.weights) + '?', 'POST', 'rollback', {},
      (next) => 'Rolled back to ' + weightsText(next.weights) + ' (revision ' + next.revision + ').', true);
  });

  $('weights-apply').addEventListener('click', () => {
    const weights = Object.assign({}, draft);
    act('Set weights to ' + weightsText(weights) + '?', 'PUT', 'weights', { weights },
      (next) => 'Weights set to ' + weightsText(next.weights) + ' (revision ' + next.revision + ').', true);
  });

  $('weights-reset').addEventListener('click', () => {
    weightsDirty = false;
    renderSliders();
  });

  $('rollout-abort').addEventListener('click', () => {
    act('Abort the rollout of ' + rollout.spec.pool + ' and restore ' + weightsText(rollout.baseline) + '?', 'POST', 'rollout/abort', {},
      () => 'Rollout aborted.');
  });

  $('rollout-promote').addEventListener('click', () => {
    act('Promote ' + rollout.spec.pool + ' to 100% now, skipping the remaining steps?', 'POST', 'rollout/promote', {},
      () => 'Rollout promoted: ' + rollout.spec.pool + ' takes all traffic.');
  });

  // ---- target actions (confirmed in the target's row) ----
  const TARGET_ACTIONS = {
    drain: { label: 'Drain', question: (id) => 'Drain ' + id + '? It takes no new requests; those in flight finish. Health checks go on.' },
    maint: { label: 'Maint', question: (id) => 'Put ' + id + ' in maintenance? It takes no new requests and its health checks stop; those in flight finish.' },
    ready: { label: 'Ready', question: (id) => 'Put ' + id + ' back in rotation? Slow start applies if the pool has it.' },
  };

  function ask(pool, id, state) {
    pending = { pool, id, state, force: false, error: null, busy: false };
    renderTargets();
  }

  function cancel() {
    pending = null;
    renderTargets();
  }

  async function confirmTarget() {
    const change = pending;
    if (change === null || change.busy) return;
    change.busy = true;
    renderTargets();
    const body = { state: change.state };
    if (change.force) body.force = true;
    try {
      const view = await api('PUT', 'pools/' + encodeURIComponent(change.pool) + '/targets/' + encodeURIComponent(change.id), body);
      pending = null;
      notify(change.pool + ' ' + view.id + ' is now ' + view.state + '.', true);
    } catch (err) {
      if (err instanceof Unauthorized) { pending = null; return; }
      notify('Refused — ' + err.message, false);
      // The last ready target: the row offers the same change again with force.
      if (err.code === 'LAST_TARGET' && pending === change) Object.assign(change, { busy: false, force: true, error: err.message });
      else if (pending === change) pending = null;
    }
    renderTargets();
    poll();
  }

  // ---- rendering ----
  const ms = (value) => (value < 10 ? value.toFixed(1) : String(Math.round(value))) + ' ms';
  // A TTL: '500 ms', '30 s', '5 min'.
  const duration = (value) => value < 1000 ? value + ' ms' : value < 60000 || value % 60000 !== 0 ? Math.round(value / 100) / 10 + ' s' : value / 60000 + ' min';

  function ago(iso) {
    if (!iso) return '';
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) return seconds + ' s ago';
    if (seconds < 3600) return Math.floor(seconds / 60) + ' min ago';
    return new Date(iso).toLocaleString();
  }

  function renderSummary() {
    const store = status.store.kind + (status.store.up ? '' : ' (DOWN)');
    $('summary').textContent = 'revision ' + status.revision + ' · updated ' + ago(status.updatedAt) + ' by ' + status.updatedBy
      + (status.reason ? ' (' + status.reason + ')' : '') + ' · store ' + store;
  }

  function makeCard(name) {
    const c = { rows: new Map() };
    c.el = h('article', { className: 'card', 'data-pool': name },
      h('div', { className: 'card-head' },
        h('h3', {}, name), (c.version = h('span', { className: 'version mono' })), (c.badge = h('span', { className: 'badge state' }))),
      h('div', { className: 'weight' }, (c.weight = h('strong', { className: 'weight-value' })), h('div', { className: 'bar' }, (c.bar = h('span')))),
      h('div', { className: 'facts' },
        h('div', {}, (c.inflight = h('b')), h('span', {}, 'in flight')),
        h('div', {}, (c.ready = h('b')), h('span', {}, 'targets ready')),
        h('div', {}, (c.rps = h('b', { className: 'rps-now' })), h('span', {}, 'req/s')),
        h('div', {}, (c.errors = h('b')), h('span', {}, 'errors, 1 min'))),
      (c.chart = svg('svg', { class: 'spark', viewBox: '0 0 59 40', preserveAspectRatio: 'none', role: 'img' })),
      h('div', { className: 'legend' },
        h('span', {}, h('i', { style: 'background: var(--split)' }), 'requests/s, last minute'),
        h('span', {}, h('i', { style: 'background: var(--bad)' }), 'errors/s'),
        (c.peak = h('span'))),
      (c.discovery = h('div', { className: 'discovery', role: 'status' })),
      (c.targets = h('ul', { className: 'targets' })),
      (c.drain = h('div', { className: 'muted' })),
      h('div', { className: 'actions' }, (c.flip = h('button', { type: 'button', className: 'flip', onclick: () => flip(name) }, 'Flip to ' + name))));
    return c;
  }

  function area(series, peak, cls) {
    const points = series.map((value, i) => i + ',' + (40 - (value / peak) * 38).toFixed(2));
    return svg('polygon', { class: cls, points: '0,40 ' + points.join(' ') + ' ' + (series.length - 1) + ',40' });
  }

  function renderPools(stats) {
    const names = Object.keys(status.pools);
    for (const name of [...cards.keys()]) {
      if (!names.includes(name)) { cards.get(name).el.remove(); cards.delete(name); }
    }
    names.forEach((name, index) => {
      let c = cards.get(name);
      if (!c) cards.set(name, (c = makeCard(name)));
      if ($('pools').children[index] !== c.el) $('pools').insertBefore(c.el, $('pools').children[index] || null);
      const pool = status.pools[name];
      c.el.dataset.state = pool.state;
      c.version.textContent = pool.version;
      c.badge.textContent = pool.state;
      c.weight.textContent = pool.weight + '%';
      c.bar.style.width = pool.weight + '%';
      c.inflight.textContent = pool.inflight + (pool.longLived ? ' (+' + pool.longLived + ' ws)' : '');
      c.ready.textContent = pool.readyTargets + '/' + pool.targets.length;
      c.ready.classList.toggle('bad', pool.readyTargets === 0);

      // The last slot is the second in progress: chart and rate use the 59 complete ones.
      const series = stats[name] || { rps: [], errors: [] };
      const rps = series.rps.slice(0, -1);
      const errors = series.errors.slice(0, -1);
      const total = rps.reduce((a, b) => a + b, 0);
      const failed = errors.reduce((a, b) => a + b, 0);
      c.rps.textContent = rps.length ? String(rps[rps.length - 1]) : '–';
      c.errors.textContent = total === 0 ? '–' : (100 * failed / total).toFixed(failed === 0 ? 0 : 1) + '%';
      c.errors.classList.toggle('bad', failed > 0);
      const peak = Math.max(1, ...rps);
      c.chart.replaceChildren(area(rps, peak, 'rps'), area(errors, peak, 'err'));
      c.chart.setAttribute('aria-label', name + ': ' + total + ' requests, ' + failed + ' errors in the last minute');
      c.peak.textContent = 'peak ' + Math.max(0, ...rps) + '/s';

      renderDiscovery(c, pool.discovery);
      renderTargetRows(name, c, pool.targets);

      c.drain.textContent = pool.state === 'draining' ? 'draining since ' + ago(pool.drainingSince)
        : pool.state === 'drained' ? 'drained ' + ago(pool.drainedAt) : '';
      c.drain.hidden = c.drain.textContent === '';
      c.flip.disabled = pool.weight === 100;
    });
  }

  // A discovering pool's DNS state: one muted line when answers come, a warning while the
  // targets are a held last good set (stale) or DNS fails with nothing held.
  function renderDiscovery(c, discovery) {
    c.discovery.hidden = !discovery;
    if (!discovery) return;
    const failing = discovery.lastError !== null;
    c.discovery.dataset.state = discovery.stale ? 'stale' : failing ? 'failing' : 'ok';
    c.discovery.classList.toggle('warn', failing);
    c.discovery.textContent = !failing
      ? 'DNS ok' + (discovery.ttlMs === null ? '' : ' · TTL ' + duration(discovery.ttlMs)) + ' · resolved ' + ago(discovery.resolvedAt)
      : discovery.stale
        ? 'DNS stale (' + discovery.lastError + '): holding the last good set from ' + ago(discovery.lastGoodAt)
        : 'DNS failing (' + discovery.lastError + '): no targets from DNS' + (discovery.lastGoodAt ? '; last good ' + ago(discovery.lastGoodAt) : '');
    // The name can be a long cluster FQDN: on hover, not in the line.
    c.discovery.title = discovery.dns + ' (' + discovery.type + ')' + (discovery.resolvedAt ? ', last query ' + discovery.resolvedAt : '');
  }

  const round = (weight) => String(Math.round(weight * 10) / 10);

  // One row per target, kept across polls (keyed by id) so a button is never swapped under the pointer.
  function makeTargetRow(pool, id) {
    const r = {};
    const button = (state) => h('button', { type: 'button', className: 'small target-' + state, onclick: () => ask(pool, id, state) },
      TARGET_ACTIONS[state].label);
    r.el = h('li', { className: 'target', 'data-target': id },
      h('div', { className: 'target-head' },
        (r.dot = h('span', { className: 'dot' })),
        (r.url = h('span', { className: 'url mono' })),
        (r.state = h('span', { className: 'target-state' })),
        (r.inflight = h('span', { className: 'target-inflight muted' }))),
      h('div', { className: 'target-line muted' },
        'weight ', (r.weight = h('b', { className: 'target-weight' })), ' · effective ', (r.effective = h('b', { className: 'target-effective' })),
        ' · ', (r.source = h('span', { className: 'target-source' })),
        (r.drained = h('span', { className: 'target-drained' }))),
      (r.dns = h('div', { className: 'target-line target-dns muted' },
        'TTL ', (r.ttl = h('b', { className: 'target-ttl' })), ' · resolved ', (r.resolved = h('span', { className: 'target-resolved' })),
        (r.stale = h('span', { className: 'stale-badge', title: 'DNS does not answer: kept from the last good answer' }, 'stale')))),
      (r.check = h('div', { className: 'target-line muted' })),
      (r.actions = h('div', { className: 'target-actions' }, button('drain'), button('maint'), button('ready'))),
      (r.confirm = h('div', { className: 'target-confirm', role: 'alertdialog' },
        (r.question = h('span', { className: 'confirm-text' })),
        (r.error = h('span', { className: 'confirm-error bad' })),
        h('div', { className: 'target-actions' },
          h('button', { type: 'button', className: 'small confirm-cancel', onclick: cancel }, 'Cancel'),
          (r.ok = h('button', { type: 'button', className: 'small primary confirm-ok', onclick: confirmTarget }))))));
    return r;
  }

  function renderTargetRows(pool, c, targets) {
    const ids = targets.map((target) => target.id);
    for (const id of [...c.rows.keys()]) {
      if (ids.includes(id)) continue;
      c.rows.get(id).el.remove();
      c.rows.delete(id);
      if (pending !== null && pending.pool === pool && pending.id === id) pending = null; // it left: nothing to confirm
    }
    targets.forEach((target, index) => {
      let r = c.rows.get(target.id);
      if (!r) c.rows.set(target.id, (r = makeTargetRow(pool, target.id)));
      if (c.targets.children[index] !== r.el) c.targets.insertBefore(r.el, c.targets.children[index] || null);
      r.target = target;
      const health = target.ejected ? 'ejected' : target.healthy ? 'healthy' : target.lastCheck ? 'unhealthy' : 'pending';
      const check = target.lastCheck;
      r.el.dataset.state = target.state;
      r.dot.className = 'dot ' + health;
      r.dot.title = health;
      r.url.textContent = target.url;
      r.url.title = target.url + ' (' + target.source + ')';
      r.state.textContent = target.removing ? 'removing' : target.state;
      r.state.dataset.state = target.removing ? 'removing' : target.state;
      r.inflight.textContent = target.inflight + ' in flight';
      r.weight.textContent = String(target.weight);
      r.effective.textContent = round(target.effectiveWeight);
      r.source.textContent = target.source;
      // ttlMs is present on targets from DNS only.
      r.dns.hidden = target.ttlMs === undefined;
      r.ttl.textContent = typeof target.ttlMs === 'number' ? duration(target.ttlMs) : '–';
      r.resolved.textContent = target.resolvedAt ? ago(target.resolvedAt) : 'not yet';
      r.resolved.title = target.resolvedAt || '';
      r.stale.hidden = target.stale !== true;
      // A fenced target (drain, maint, removing): drained once nothing is in flight.
      const fenced = target.state !== 'ready' || target.removing;
      r.drained.textContent = !fenced ? '' : target.drainedAt ? ' · drained ' + ago(target.drainedAt) : ' · draining';
      r.check.replaceChildren(h('span', { className: 'health ' + health }, health), ' · ' + (check === null ? 'not checked yet'
        : 'last check ' + (check.ok ? 'ok' : 'failed') + ' ' + (check.error || check.status || '') + ' · ' + ms(check.ms) + ' · ' + ago(check.at)));
      r.check.title = check ? check.at : '';
      for (const button of r.actions.children) button.disabled = target.removing || button.classList.contains('target-' + target.state);
    });
    renderTargets(c);
  }

  // The confirmation of the pending change, in its row; every other row's is hidden.
  function renderTargets(only) {
    for (const [pool, c] of cards) {
      if (only && only !== c) continue;
      for (const [id, r] of c.rows) {
        const asking = pending !== null && pending.pool === pool && pending.id === id;
        r.confirm.hidden = !asking;
        r.actions.hidden = asking;
        if (!asking) continue;
        const action = TARGET_ACTIONS[pending.state];
        r.question.textContent = action.question(id);
        r.error.textContent = pending.error ? ' Refused: ' + pending.error : '';
        r.ok.textContent = pending.force ? action.label + ' anyway' : action.label;
        r.ok.classList.toggle('danger', pending.force);
        r.ok.classList.toggle('primary', !pending.force);
        r.ok.disabled = pending.busy;
      }
    }
  }

  function renderSliders() {
    const names = Object.keys(status.pools);
    if (!weightsDirty) draft = Object.fromEntries(names.map((name) => [name, status.weights[name] || 0]));
    const box = $('sliders');
    if (box.dataset.pools !== names.join(',')) {
      box.dataset.pools = names.join(',');
      box.replaceChildren(...names.flatMap((name) => [
        h('label', { htmlFor: 'weight-' + name }, name),
        h('input', { type: 'range', id: 'weight-' + name, min: 0, max: 100, step: 1, 'data-pool': name, oninput: (event) => slide(name, Number(event.target.value)) }),
        h('output', { id: 'weight-' + name + '-value' }),
      ]));
    }
    for (const name of names) {
      $('weight-' + name).value = String(draft[name]);
      $('weight-' + name + '-value').textContent = draft[name] + '%';
    }
    const sum = names.reduce((total, name) => total + draft[name], 0);
    $('weights-sum').textContent = 'total ' + sum + '%' + (sum === 100 ? '' : ' (must be 100)');
    $('weights-sum').classList.toggle('bad', sum !== 100);
    const changed = names.some((name) => draft[name] !== (status.weights[name] || 0));
    $('weights-apply').disabled = !changed;
    $('weights-reset').disabled = !changed;
    $('rollback').disabled = !status.previous;
    $('previous').textContent = status.previous ? 'previous (revision ' + status.previous.revision + '): ' + weightsText(status.previous.weights) : 'no previous routing';
  }

  function slide(name, value) {
    weightsDirty = true;
    draft[name] = value;
    const names = Object.keys(draft);
    // Two pools: the other one takes the rest, so the total stays 100.
    if (names.length === 2) draft[names.find((other) => other !== name)] = 100 - value;
    renderSliders();
  }

  function renderRollout() {
    const box = $('rollout');
    const running = rollout !== null && rollout.phase === 'running';
    // Abort and Promote act on a running rollout only: shown while one runs, absent otherwise.
    $('rollout-actions').hidden = !running;
    if (rollout === null) {
      box.replaceChildren(h('p', { className: 'muted' }, 'No rollout has run. Start one with switchyard rollout POOL or POST /rollout.'));
      return;
    }
    const spec = rollout.spec;
    const head = h('div', {},
      h('strong', {}, spec.pool), ' — ', h('span', { className: 'phase' }, rollout.phase.toUpperCase()),
      running ? ' · step ' + (rollout.step + 1) + '/' + spec.steps.length + ' (' + rollout.weight + '%)' : '',
      running && typeof rollout.timeLeftMs === 'number' ? ' · next verdict in ' + Math.ceil(rollout.timeLeftMs / 1000) + ' s' : '');
    // Steps at or below the pool's weight were passed over (a rollout never lowers it).
    const skipped = rollout.skipped || [];
    const skippedAt = new Set(skipped.map((entry) => entry.step));
    const steps = h('div', { className: 'steps' }, ...spec.steps.map((weight, i) =>
      h('span', { className: skippedAt.has(i) ? 'skipped' : i < rollout.step || (!running && rollout.phase !== 'aborted') ? 'done' : i === rollout.step && running ? 'now' : '',
        title: skippedAt.has(i) ? 'skipped' : '' }, weight + '%')));
    const skippedLine = skipped.length ? h('div', { className: 'muted skipped-note' }, 'skipped ' + skipped.map((entry) => entry.weight + '%').join(', ')
      + ': ' + skipped[skipped.length - 1].reason) : null;
    const limits = h('div', { className: 'muted' }, 'error rate ≤ ' + spec.maxErrorRate
      + (spec.maxP99Ms === undefined ? '' : ', p99 ≤ ' + spec.maxP99Ms + ' ms') + ', at least ' + spec.minRequests + ' requests a window, every '
      + Math.round(spec.intervalMs / 1000) + ' s');
    const win = rollout.window;
    const windowLine = win ? h('div', {}, 'window: ' + win.requests + ' requests, ' + win.errors + ' errors ('
      + (100 * win.errorRate).toFixed(1) + '%)' + (win.p99Ms === null ? '' : ', p99 ' + ms(win.p99Ms))) : null;
    const ended = rollout.endedAt ? h('div', { className: 'muted' }, 'ended ' + ago(rollout.endedAt) + (rollout.reason ? ': ' + rollout.reason : '')) : null;
    const verdicts = h('ul', { className: 'verdicts' }, ...rollout.history.slice(-4).reverse().map((v) =>
      h('li', {}, h('span', { className: 'verdict-' + v.verdict }, v.verdict), ' at ' + v.weight + '% · ' + v.reason)));
    box.replaceChildren(...[head, steps, skippedLine, limits, windowLine, ended, verdicts].filter(Boolean));
  }

  // A target event's change: 'blue 10.0.0.1:80 ready 100 → drain 100', 'added', 'removed'.
  function targetChange(change) {
    const side = (declared) => declared === null ? '' : declared.state + ' ' + declared.weight;
    const what = change.from === null ? 'added ' + side(change.to) : change.to === null ? 'removed' : side(change.from) + ' → ' + side(change.to);
    return change.pool + ' ' + change.id + ': ' + what;
  }

  function renderEvents(events, error) {
    const box = $('events');
    if (!events) {
      box.replaceChildren(h('p', { className: 'bad' }, 'Events unavailable — ' + error));
      return;
    }
    if (events.length === 0) {
      box.replaceChildren(h('p', { className: 'muted' }, 'No changes yet.'));
      return;
    }
    box.replaceChildren(h('table', { className: 'events' },
      h('thead', {}, h('tr', {}, ...['when', 'what', 'change', 'who', 'why'].map((title) => h('th', {}, title)))),
      h('tbody', {}, ...events.map((event) => h('tr', {},
        h('td', { title: event.at }, new Date(event.at).toLocaleTimeString()),
        h('td', {}, event.kind),
        h('td', {}, event.target ? targetChange(event.target) : event.from || event.to ? weightsText(event.from) + ' → ' + weightsText(event.to) : ''),
        h('td', { className: 'mono' }, event.who),
        h('td', {}, event.reason || ''))))));
  }

  poll();
})();
`;
