// The dashboard's stylesheet: system font, one card per pool, a colour per pool state and per
// target state.

export const STYLE_CSS = `
:root {
  --bg: #f5f6f8; --card: #fff; --text: #1f2328; --muted: #656d76; --line: #d8dee4;
  --active: #1a7f37; --split: #0969da; --standby: #6e7781; --draining: #bc4c00; --drained: #8c959f;
  --bad: #cf222e; --warn: #9a6700;
  color-scheme: light;
}
* { box-sizing: border-box; }
/* The hidden attribute always wins: a class's display (flex, grid) would otherwise show a hidden element. */
[hidden] { display: none !important; }
body { margin: 0; padding: 16px 24px 32px; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 10px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
button { font: inherit; padding: 5px 12px; border-radius: 6px; border: 1px solid var(--line); background: #f6f8fa; color: var(--text); cursor: pointer; }
button:hover:not(:disabled) { filter: brightness(0.96); }
button:disabled { opacity: 0.45; cursor: default; }
button.primary { background: var(--active); border-color: var(--active); color: #fff; }
button.danger { background: #fff; border-color: var(--bad); color: var(--bad); }
button.link { border: 0; background: none; padding: 0 4px; }
.top { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; margin-bottom: 14px; }
.summary { color: var(--muted); }
.live { margin-left: auto; font-size: 12px; color: var(--muted); }
.live::before { content: "●"; margin-right: 5px; }
.live[data-state="live"]::before { color: var(--active); }
.live[data-state="down"]::before { color: var(--bad); }
.live[data-state="connecting"]::before { color: var(--drained); }
.notice { display: flex; align-items: center; gap: 12px; padding: 9px 14px; margin-bottom: 14px; border-radius: 6px;
  border: 1px solid var(--bad); background: #ffebe9; color: #82071e; }
.notice.ok { border-color: var(--active); background: #dafbe1; color: #116329; }
.notice button { margin-left: auto; color: inherit; }
.panel, .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.panel { margin-top: 16px; }
.login { max-width: 420px; }
.login label { display: block; margin: 10px 0; }
.login input { width: 100%; padding: 6px 8px; margin-top: 4px; font: inherit; border: 1px solid var(--line); border-radius: 6px; }
.pools { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 16px; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 0 16px; }
.card { border-top: 4px solid var(--state, var(--standby)); display: flex; flex-direction: column; gap: 10px; min-width: 0; }
.card[data-state="active"] { --state: var(--active); }
.card[data-state="split"] { --state: var(--split); }
.card[data-state="standby"] { --state: var(--standby); }
.card[data-state="draining"] { --state: var(--draining); }
.card[data-state="drained"] { --state: var(--drained); }
.card-head { display: flex; align-items: center; gap: 10px; }
.card-head h3 { margin: 0; font-size: 17px; }
.version { color: var(--muted); }
.badge { margin-left: auto; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; color: #fff; background: var(--state, var(--standby)); text-transform: uppercase; letter-spacing: 0.03em; }
.weight { display: flex; align-items: center; gap: 10px; }
.weight strong { font-size: 24px; min-width: 64px; }
.bar { flex: 1; height: 8px; border-radius: 4px; background: #eaeef2; overflow: hidden; }
.bar > span { display: block; height: 100%; background: var(--state, var(--standby)); transition: width 0.3s; }
.facts { display: grid; grid-template-columns: repeat(4, 1fr); gap: 6px; }
.facts div { display: flex; flex-direction: column; }
.facts b { font-size: 15px; }
.facts span, .muted { color: var(--muted); font-size: 12px; }
.spark { width: 100%; height: 44px; display: block; background: #fafbfc; border: 1px solid #eaeef2; border-radius: 4px; }
.spark .rps { fill: rgba(9, 105, 218, 0.12); stroke: var(--split); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.spark .err { fill: rgba(207, 34, 46, 0.18); stroke: var(--bad); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.legend { display: flex; gap: 12px; font-size: 11.5px; color: var(--muted); margin-top: -6px; }
.legend i { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; }
.targets { list-style: none; margin: 0; padding: 0; }
.target { padding: 5px 0; border-top: 1px solid #eaeef2; min-width: 0; }
.target-head { display: flex; align-items: center; gap: 6px; min-width: 0; }
.target-head .url { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.target-inflight { white-space: nowrap; }
.target-line { padding-left: 15px; overflow-wrap: anywhere; }
.target-line b { color: var(--text); font-weight: 600; }
.target-state { padding: 0 7px; border-radius: 999px; font-size: 11.5px; font-weight: 600; color: #fff; background: var(--active); }
.target-state[data-state="drain"] { background: var(--draining); }
.target-state[data-state="maint"] { background: var(--standby); }
.target-state[data-state="removing"] { background: var(--bad); }
.target:not([data-state="ready"]) .url { color: var(--muted); }
.target-actions { display: flex; gap: 6px; justify-content: flex-end; margin-top: 3px; }
.target-confirm { margin: 4px 0 2px 15px; padding: 6px 8px; border: 1px solid var(--warn); border-radius: 6px; background: #fff8c5; font-size: 12.5px; }
button.small { padding: 1px 9px; font-size: 12px; }
.health.healthy { color: var(--active); }
.health.unhealthy { color: var(--bad); }
.health.ejected { color: var(--warn); }
.dot { display: inline-block; flex: none; width: 9px; height: 9px; border-radius: 50%; background: var(--drained); }
.dot.healthy { background: var(--active); }
.dot.unhealthy { background: var(--bad); }
.dot.ejected { background: var(--warn); }
.discovery { font-size: 12px; color: var(--muted); }
.discovery.warn { padding: 5px 9px; border: 1px solid var(--warn); border-radius: 6px; background: #fff8c5; color: #7d4e00; font-weight: 600; }
.stale-badge { margin-left: 6px; padding: 0 7px; border-radius: 999px; font-size: 11.5px; font-weight: 600; color: #fff; background: var(--warn); text-transform: uppercase; }
.card .actions { display: flex; gap: 8px; justify-content: flex-end; margin-top: auto; }
.row { display: flex; align-items: center; gap: 8px; margin-top: 12px; }
.spacer { flex: 1; }
.sliders { display: grid; grid-template-columns: auto 1fr 48px; gap: 6px 12px; align-items: center; }
.sliders input { width: 100%; }
.sliders output { text-align: right; font-weight: 600; }
.bad { color: var(--bad); }
.steps { display: flex; gap: 4px; margin: 6px 0; flex-wrap: wrap; }
.steps span { padding: 1px 8px; border-radius: 999px; border: 1px solid var(--line); font-size: 12px; }
.steps span.done { background: #eaeef2; }
.steps span.now { background: var(--split); border-color: var(--split); color: #fff; }
.steps span.skipped { text-decoration: line-through; color: var(--muted); border-style: dashed; }
.verdicts { margin: 6px 0 0; padding-left: 18px; font-size: 12.5px; }
.verdict-pass { color: var(--active); }
.verdict-fail { color: var(--bad); }
.verdict-hold { color: var(--warn); }
table.events { width: 100%; border-collapse: collapse; font-size: 13px; }
table.events th { text-align: left; font-weight: 600; color: var(--muted); padding: 4px 8px 4px 0; border-bottom: 1px solid var(--line); }
table.events td { padding: 4px 8px 4px 0; border-bottom: 1px solid #eaeef2; vertical-align: top; }
`;
