/**
 * The web UI's stylesheet, served as `/assets/app.css`. It lives in a TS
 * constant so the single executable carries it; the CSP allows no inline
 * style, so every look is a class here.
 *
 * @module
 */

/** The stylesheet. */
export const APP_CSS = `
:root {
  --ink: #1d2433; --muted: #667085; --line: #e4e7ec; --bg: #f5f6f8; --card: #fff;
  --brand: #1f3a5f; --brand-ink: #fff; --accent: #d9480f; --link: #1d5fbf;
  --good: #157347; --good-bg: #e6f4ea; --warn: #8a5a00; --warn-bg: #fff4d6;
  --bad: #b42318; --bad-bg: #fdecea; --info: #344054; --info-bg: #eef2f6;
  --held: #6941c6; --held-bg: #f0ebff;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --ink: #e6e9ef; --muted: #98a2b3; --line: #2c3445; --bg: #121722; --card: #1a2130;
    --brand: #0f1b2d; --link: #7cb0ff; --good: #6fd49a; --good-bg: #143024; --warn: #f5c451;
    --warn-bg: #33290f; --bad: #ff8a7a; --bad-bg: #3a1a17; --info: #c8d0dc; --info-bg: #243045;
    --held: #b9a3ff; --held-bg: #2a2148;
  }
}
* { box-sizing: border-box; }
html { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
body { margin: 0; color: var(--ink); background: var(--bg); }
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
code, .mono, pre { font-family: var(--mono); font-size: 0.92em; }
h1 { font-size: 1.5rem; margin: 0 0 0.8rem; }
h2 { font-size: 1.05rem; margin: 0 0 0.7rem; }
h2 small, h1 small { color: var(--muted); font-weight: 400; font-size: 0.85rem; }
.small { font-size: 0.85rem; font-weight: 400; }
.muted { color: var(--muted); }

header.top {
  display: flex; align-items: center; gap: 1.5rem; padding: 0 1.5rem; height: 3.2rem;
  background: var(--brand); color: var(--brand-ink);
  border-bottom: 3px solid var(--accent);
}
.brand { color: var(--brand-ink); font-weight: 700; font-size: 1.15rem; letter-spacing: 0.02em; }
.brand:hover { text-decoration: none; }
.stamp { color: var(--accent); margin-right: 0.2rem; }
header nav { display: flex; gap: 0.25rem; flex: 1; overflow-x: auto; }
header nav a {
  color: #d6deea; padding: 0.35rem 0.7rem; border-radius: 6px; white-space: nowrap;
}
header nav a:hover { background: rgba(255,255,255,0.08); text-decoration: none; color: #fff; }
header nav a.current { background: rgba(255,255,255,0.16); color: #fff; }
.logout button.link { color: #d6deea; }

main { max-width: 1200px; margin: 0 auto; padding: 1.5rem; }
footer { max-width: 1200px; margin: 0 auto; padding: 0 1.5rem 1.5rem; color: var(--muted); font-size: 0.8rem; }

.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 1rem 1.2rem; margin-bottom: 1.2rem; box-shadow: 0 1px 2px rgba(16,24,40,0.04);
}
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 1.2rem; }
.grid2 > .card { margin-bottom: 0; }
.page-head { display: flex; align-items: center; justify-content: space-between; gap: 1rem; margin-bottom: 0.8rem; }
.page-head h1 { margin: 0; }

.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 1rem; margin-bottom: 1.2rem; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 0.8rem 1rem; }
.stat .label { display: block; color: var(--muted); font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.05em; }
.stat .value { font-size: 1.8rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.stat .unit { color: var(--muted); margin-left: 0.25rem; }
.stat .sub { display: block; color: var(--muted); font-size: 0.8rem; }
.stat.accepted-rate .value { color: #1d5fbf; }
.stat.delivered-rate .value { color: var(--good); }

.chart { margin: 0; }
.chart svg { display: block; width: 100%; height: 170px; }
.chart .gridline { stroke: var(--line); stroke-width: 1; }
h2.spaced { margin-top: 1.2rem; }
.chart .line { fill: none; stroke-width: 2; vector-effect: non-scaling-stroke; stroke-linejoin: round; }
.chart .area { stroke: none; opacity: 0.12; }
.chart .accepted { stroke: #1d5fbf; }
.chart .area.accepted { fill: #1d5fbf; }
.chart .delivered { stroke: #16a34a; }
.chart .queue { stroke: var(--accent); }
.chart .area.queue { fill: var(--accent); }
.legend .scale { margin-left: auto; }
.legend { display: flex; gap: 1rem; font-size: 0.85rem; color: var(--muted); margin-top: 0.4rem; }
.legend .key::before { content: ""; display: inline-block; width: 0.8rem; height: 3px; margin-right: 0.35rem; vertical-align: middle; border-radius: 2px; }
.legend .key.accepted::before { background: #1d5fbf; }
.legend .key.delivered::before { background: #16a34a; }
.legend .key.queue::before { background: var(--accent); }
.live-status { font-size: 0.8rem; color: var(--muted); }
.live-status.on::before { content: "● "; color: #16a34a; }
.live-status.off::before { content: "● "; color: var(--bad); }

table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 0.5rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: 0.78rem; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); font-weight: 600; }
tbody tr:hover { background: rgba(127,127,127,0.05); }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.addr { overflow-wrap: anywhere; }
table.queue td.addr { min-width: 11rem; }
.nowrap { white-space: nowrap; }
td.subject { min-width: 10rem; overflow-wrap: anywhere; }
table.headers th { width: 12rem; font-family: var(--mono); font-size: 0.85rem; font-weight: 500; color: var(--muted); }
table.headers td { word-break: break-word; }
table.compact td, table.compact th { padding: 0.35rem 0.5rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.35rem 1.2rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
ul.rcpts { list-style: none; margin: 0; padding: 0; }
ul.rcpts li + li { margin-top: 0.25rem; }
.error-text { color: var(--bad); font-size: 0.82rem; font-family: var(--mono); word-break: break-word; }

.badge {
  display: inline-block; padding: 0.05rem 0.5rem; border-radius: 999px; font-size: 0.75rem;
  font-weight: 600; background: var(--info-bg); color: var(--info); white-space: nowrap;
}
.badge.queued { background: var(--info-bg); color: var(--info); }
.badge.deferred { background: var(--warn-bg); color: var(--warn); }
.badge.delivering { background: #e0ecff; color: #1d5fbf; }
.badge.delivered, .badge.done, .badge.yes { background: var(--good-bg); color: var(--good); }
.badge.failed { background: var(--bad-bg); color: var(--bad); }
.badge.held { background: var(--held-bg); color: var(--held); }

button, input, select, textarea { font: inherit; color: inherit; }
input, select, textarea {
  background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 0.35rem 0.55rem;
}
input:focus, select:focus, textarea:focus, button:focus-visible { outline: 2px solid var(--link); outline-offset: 1px; }
button {
  cursor: pointer; background: var(--card); border: 1px solid var(--line); border-radius: 6px;
  padding: 0.3rem 0.7rem;
}
button:hover { border-color: var(--muted); }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; }
button.primary:hover { filter: brightness(1.08); }
button.danger { color: var(--bad); }
td form.inline button { font-size: 0.8rem; padding: 0.15rem 0.5rem; }
button.link { background: none; border: none; padding: 0; color: var(--link); }
form.inline { display: inline; margin: 0; }
.actions { display: flex; gap: 0.3rem; }
.actions button { font-size: 0.8rem; padding: 0.15rem 0.5rem; }
.filters { display: flex; flex-wrap: wrap; gap: 0.6rem 1rem; align-items: end; margin-bottom: 1rem; }
.filters label { display: flex; flex-direction: column; font-size: 0.8rem; color: var(--muted); gap: 0.2rem; }
.stack { display: grid; gap: 0.6rem; max-width: 28rem; }
.stack label { display: grid; gap: 0.2rem; font-size: 0.85rem; color: var(--muted); }
.stack label.check { display: flex; gap: 0.4rem; align-items: center; }
.row-form { display: flex; gap: 0.3rem; }
.row-form input { width: 10rem; padding: 0.15rem 0.4rem; font-size: 0.85rem; }
.row-form button { font-size: 0.8rem; padding: 0.15rem 0.5rem; }

.notice { padding: 0.6rem 0.9rem; border-radius: 8px; margin: 0 0 1rem; }
.notice.ok { background: var(--good-bg); color: var(--good); }
.notice.error { background: var(--bad-bg); color: var(--bad); }
.empty { color: var(--muted); padding: 2rem; text-align: center; background: var(--card); border: 1px dashed var(--line); border-radius: 10px; }
.summary { color: var(--muted); margin: 0 0 0.6rem; }

pre.source {
  margin: 0; padding: 0.8rem; background: var(--bg); border-radius: 8px; overflow: auto;
  max-height: 32rem; white-space: pre-wrap; word-break: break-all; font-size: 0.82rem;
}

ol.events { list-style: none; margin: 0; padding: 0; font-family: var(--mono); font-size: 0.82rem; }
ol.events li { display: grid; grid-template-columns: 5.2rem 9rem 1fr; gap: 0.6rem; padding: 0.3rem 0.4rem; border-bottom: 1px solid var(--line); }
ol.events li.fresh { animation: fresh 0.6s ease-out; }
@keyframes fresh { from { background: rgba(217,72,15,0.10); } to { background: transparent; } }
ol.events time { color: var(--muted); }
ol.events .name { font-weight: 600; }
ol.events .good .name, ol.events li.good .name { color: var(--good); }
ol.events li.warn .name { color: var(--warn); }
ol.events li.bad .name { color: var(--bad); }
ol.events .fields { word-break: break-all; color: var(--ink); }

.terminal {
  background: #0d1117; color: #d1f7c4; border-radius: 10px; padding: 1rem; min-height: 16rem;
  font-family: var(--mono); font-size: 0.88rem;
}
.terminal ol { list-style: none; margin: 0; padding: 0; }
.terminal li { padding: 0.2rem 0; white-space: pre-wrap; word-break: break-word; }
.terminal .from { color: #7ee787; font-weight: 600; }
.terminal time { color: #8b949e; margin-right: 0.6rem; }
.terminal .waiting { color: #8b949e; }

body.bare { display: grid; min-height: 100vh; place-items: center; background: linear-gradient(160deg, var(--brand), #2c5282); }
body.bare main { width: 100%; max-width: 26rem; }
.login h1 { font-size: 1.6rem; }
.login form { display: grid; gap: 0.6rem; margin-top: 0.8rem; }
.login label { font-size: 0.85rem; color: var(--muted); }
.login input { padding: 0.55rem 0.7rem; }
.login button { padding: 0.55rem; }
.hint { color: var(--muted); font-size: 0.82rem; margin-bottom: 0; }
`;
