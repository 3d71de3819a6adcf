/**
 * `/`: the dashboard. Throughput (messages accepted and delivered per
 * second) and queue depth are drawn live by `app.js` from `/api/stats`;
 * the server renders the frame, the health facts (version, uptime,
 * listeners) and the latest events.
 *
 * @module
 */
import { Hono } from "hono";
import { html } from "hono/html";
import type { Totals } from "../../server_metrics.ts";
import type { AdminDeps } from "../deps.ts";
import { eventList } from "./events.ts";
import { formatDuration, formatTime } from "./format.ts";
import { type Html, sendPage } from "./layout.ts";

/** The chart's drawing box; `app.js` uses the same numbers. */
export const CHART = { width: 600, height: 150 } as const;

/** The counters of `/api/stats` `totals` shown under "Since start". */
const TOTALS: readonly (keyof Totals)[] = [
  "accepted",
  "delivered",
  "deferred",
  "bounced",
  "rejected",
];

/** One figure at the top: `key` is its `data-stat` name, which `app.js` fills. */
function stat(key: string, label: string, value: string | number, unit: string, sub?: Html) {
  return html`
    <div class="stat ${key}">
      <span class="label">${label}</span>
      <span class="value" data-stat="${key}">${value}</span>
      <span class="unit">${unit}</span>
      ${sub ?? ""}
    </div>
  `;
}

/** One chart series: its class (colour), legend text and whether it is filled. */
export interface Series {
  key: string;
  label: string;
  area?: boolean;
}

function seriesShapes(s: Series): Html {
  const area = s.area
    ? html`
      <polygon class="area ${s.key}" points="" />
    `
    : "";
  return html`
    ${area}<polyline class="line ${s.key}" points="" />
  `;
}

/** An empty chart that `app.js` fills: an area and a line per series, three grid lines. */
export function chartFrame(id: string, label: string, series: readonly Series[]): Html {
  const { width: w, height: h } = CHART;
  const grid = [0.5, h / 2, h - 0.5].map((y) =>
    html`
      <line class="gridline" x1="0" y1="${y}" x2="${w}" y2="${y}" />
    `
  );
  const legend = series.map((s) => html`<span class="key ${s.key}">${s.label}</span>`);
  return html`
    <figure class="chart">
      <svg id="${id}" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img"
        aria-label="${label}">
        ${grid} ${series.map(seriesShapes)}
      </svg>
      <figcaption
        class="legend">${legend}<span class="scale" id="${id}-max"></span></figcaption>
    </figure>
  `;
}

function listenerTable(deps: AdminDeps): Html {
  const listeners = deps.listeners();
  if (listeners.length === 0) return html`<p class="muted">No SMTP listener is bound.</p>`;
  const rows = listeners.map((l) =>
    html`
      <tr>
        <td>${l.kind}</td>
        <td class="mono">${l.address}</td>
        <td class="mono">${l.port}</td>
      </tr>
    `
  );
  return html`
    <table class="compact" id="listeners">
      <thead>
        <tr>
          <th>Kind</th>
          <th>Address</th>
          <th>Port</th>
        </tr>
      </thead>
      <tbody>${rows}</tbody>
    </table>
  `;
}

function serverFacts(deps: AdminDeps): Html {
  const config = deps.config();
  const relay = config.relayHost
    ? `${config.relayHost.hostname}:${config.relayHost.port}`
    : "by MX lookup";
  const counts = deps.metrics.totals();
  const totals = TOTALS.map((key) =>
    html`
      <dt>${key[0]?.toUpperCase()}${key.slice(1)}</dt>
      <dd data-stat="total-${key}">${counts[key]}</dd>
    `
  );
  return html`
    <dl class="facts">
      <dt>Version</dt>
      <dd>Postino ${deps.version} on ${deps.runtime}, commit ${deps.commit}</dd>
      <dt>Started</dt>
      <dd>${formatTime(deps.startedAt)} UTC</dd>
      <dt>Local domains</dt>
      <dd>${config.domains.join(", ")}</dd>
      <dt>Relay</dt>
      <dd>${relay}</dd>
    </dl>
    <h2 class="spaced">Listeners</h2>
    ${listenerTable(deps)}
    <h2 class="spaced">Since start</h2>
    <dl class="facts">${totals}</dl>
  `;
}

/** The dashboard route. */
export function dashboardRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const depth = deps.spool.depth();
    const uptime = formatDuration((deps.now() - deps.startedAt) / 1000);
    const held = html`<span class="sub"><span data-stat="held">${depth.held}</span> held</span>`;
    const throughput = chartFrame("throughput", "Messages accepted and delivered per second", [
      { key: "accepted", label: "accepted", area: true },
      { key: "delivered", label: "delivered" },
    ]);
    const queue = chartFrame("depth", "Messages in the queue", [
      { key: "queue", label: "in the queue", area: true },
    ]);
    return sendPage(c, {
      title: "Dashboard",
      active: "/",
      page: "dashboard",
      version: deps.version,
      body: html`
        <div class="page-head">
          <h1>Dashboard <small>${deps.config().hostname}</small></h1>
          <span class="live-status" id="stats-status">connecting…</span>
        </div>
        <section class="stats">
          ${stat("accepted-rate", "Accepted", "–", "msg/s")}
          ${stat("delivered-rate", "Delivered", "–", "msg/s")}
          ${stat("queue", "Queue", depth.messages, "messages", held)}
          ${stat("connections", "Connections", deps.connections(), "open")}
          ${stat("uptime", "Uptime", uptime, "")}
        </section>
        <div class="grid2">
          <section class="card">
            <h2>Throughput <small>per second, last 2 minutes</small></h2>
            ${throughput}
          </section>
          <section class="card">
            <h2>Queue depth <small>last 2 minutes</small></h2>
            ${queue}
          </section>
        </div>
        <div class="grid2">
          <section class="card">
            <h2>Server</h2>
            ${serverFacts(deps)}
          </section>
          <section class="card">
            <h2>Latest events <a class="small" href="/events">all</a></h2>
            ${eventList(deps.events.recent(), 12, "recent-events")}
          </section>
        </div>
      `,
    });
  });
  return app;
}
