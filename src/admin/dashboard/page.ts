// The dashboard's HTML shell. Everything in it is static; the script fills it from the API.
// Asset URLs and API calls are relative, so the page also works behind a path prefix.

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchyard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="dashboard.css">
<script src="dashboard.js" defer></script>
</head>
<body>
<header class="top">
  <h1>Switchyard</h1>
  <span id="summary" class="summary"></span>
  <span id="live" class="live" data-state="connecting">connecting…</span>
</header>

<div id="notice" class="notice" role="alert" hidden>
  <span id="notice-text"></span>
  <button type="button" id="notice-close" class="link" aria-label="dismiss">✕</button>
</div>

<form id="login" class="panel login" hidden>
  <h2>Admin token</h2>
  <p id="login-message">The admin API needs a token. It is kept in this tab only (sessionStorage).</p>
  <label>Token <input id="token" name="token" type="password" autocomplete="off" required></label>
  <button type="submit" class="primary">Unlock</button>
</form>

<main id="main" hidden>
  <section id="pools" class="pools" aria-label="pools"></section>

  <div class="columns">
    <section class="panel" aria-labelledby="routing-title">
      <h2 id="routing-title">Weights</h2>
      <div id="sliders" class="sliders"></div>
      <div class="row">
        <span id="weights-sum" class="muted"></span>
        <span class="spacer"></span>
        <button type="button" id="weights-reset" class="secondary">Reset</button>
        <button type="button" id="weights-apply" class="primary">Set weights</button>
      </div>
      <div class="row">
        <span id="previous" class="muted"></span>
        <span class="spacer"></span>
        <button type="button" id="rollback" class="secondary">Roll back</button>
      </div>
    </section>

    <section class="panel" aria-labelledby="rollout-title">
      <h2 id="rollout-title">Rollout</h2>
      <div id="rollout"></div>
      <div id="rollout-actions" class="row" hidden>
        <span class="spacer"></span>
        <button type="button" id="rollout-abort" class="danger">Abort</button>
        <button type="button" id="rollout-promote" class="primary">Promote</button>
      </div>
    </section>
  </div>

  <section class="panel" aria-labelledby="events-title">
    <h2 id="events-title">Recent events</h2>
    <div id="events"></div>
  </section>
</main>
</body>
</html>
`;
