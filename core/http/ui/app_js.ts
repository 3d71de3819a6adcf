/**
 * The web UI's script, served as `/assets/app.js` (the CSP allows no inline
 * script). Pages work without it; it adds the live parts: the dashboard's
 * chart from `/api/stats`, the event log and the terminal over
 * Server-Sent Events, refreshing lists and confirm prompts.
 *
 * The data shaping it needs is not written twice: the TS functions from
 * `chart.ts` and `format.ts`, which the unit tests cover, are embedded by
 * their source text (`Function.prototype.toString`), which both runtimes
 * and the compiled binary give back as plain JavaScript.
 *
 * @module
 */
import { chartPoints, niceCeiling, rates, statsSample } from "./chart.ts";
import { eventSummary, eventTone, formatDuration } from "./format.ts";

/** Self-contained functions shared with the server, by the name the script uses. */
const SHARED: Record<string, (...args: never[]) => unknown> = {
  chartPoints,
  niceCeiling,
  rates,
  statsSample,
  eventSummary,
  eventTone,
  formatDuration,
};

/** `const name = (source);` for each shared function. */
export function sharedSource(
  shared: Record<string, (...args: never[]) => unknown> = SHARED,
): string {
  return Object.entries(shared).map(([name, fn]) => `const ${name} = (${fn.toString()});`)
    .join("\n");
}

const SCRIPT = String.raw`
const $ = (selector, root = document) => root.querySelector(selector);

function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

const clock = (ms) => new Date(ms).toISOString().slice(11, 19);

// Destructive buttons ask first.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});

// Lists that follow the server: fetch this page again, swap [data-live] parts.
function liveRegions(seconds) {
  if (!document.querySelector("[data-live][id]")) return;
  let busy = false;
  setInterval(async () => {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(location.href, { headers: { accept: "text/html" } });
      if (!response.ok || new URL(response.url).pathname !== location.pathname) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const region of document.querySelectorAll("[data-live][id]")) {
        const next = fresh.getElementById(region.id);
        if (next && next.innerHTML !== region.innerHTML) region.replaceWith(document.adoptNode(next));
      }
    } catch {
      // Offline for a moment: the next tick tries again.
    } finally {
      busy = false;
    }
  }, seconds * 1000);
}

function setStatus(el, on, text) {
  if (!el) return;
  el.textContent = text;
  el.classList.toggle("on", on);
  el.classList.toggle("off", !on);
}

function eventNode(event) {
  const li = node("li", "event fresh " + eventTone(event.name, event.fields || {}));
  li.dataset.seq = String(event.seq);
  const time = node("time", "", clock(event.time));
  time.dateTime = new Date(event.time).toISOString();
  li.append(time, node("span", "name", event.name), node("span", "fields", eventSummary(event.fields || {})));
  return li;
}

// Event logs: newest first, capped. The stream starts after the newest event
// the page was rendered with, so nothing falls in between or shows twice.
function eventLogs() {
  const lists = [...document.querySelectorAll("ol[data-events]")];
  if (lists.length === 0) return;
  const status = $("#stream-status");
  const newest = (list) => Math.max(0, ...[...list.children].map((li) => Number(li.dataset.seq) || 0));
  const last = new Map(lists.map((list) => [list, newest(list)]));
  const since = Math.min(...last.values());
  const source = new EventSource("/api/events?since=" + since);
  source.addEventListener("open", () => setStatus(status, true, "live"));
  source.addEventListener("error", () => setStatus(status, false, "reconnecting…"));
  source.addEventListener("mail", (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    for (const list of lists) {
      if (!(event.seq > last.get(list))) continue;
      last.set(list, event.seq);
      list.querySelector(".placeholder")?.remove();
      list.prepend(eventNode(event));
      const cap = Number(list.dataset.cap) || 200;
      while (list.children.length > cap) list.lastElementChild.remove();
    }
  });
}

// The dashboard: poll /api/stats, keep two minutes of samples (also across
// page loads, in sessionStorage), draw the charts.
function dashboard() {
  const EVERY = 2000;
  const SLOTS = 60;
  const W = 600;
  const H = 150;
  const KEEP = "postino.stats";
  let samples = [];
  try {
    const kept = JSON.parse(sessionStorage.getItem(KEEP) || "[]");
    if (Array.isArray(kept)) samples = kept.filter((s) => s && s.time > Date.now() - SLOTS * EVERY);
  } catch {
    // Nothing kept, or not readable: start afresh.
  }
  const status = $("#stats-status");
  const put = (name, text) => {
    for (const el of document.querySelectorAll('[data-stat="' + name + '"]')) el.textContent = text;
  };
  const rate = (n) => n === undefined ? "–" : n >= 10 ? String(Math.round(n)) : n.toFixed(1);
  const draw = (id, series, unit) => {
    const svg = document.getElementById(id);
    if (!svg) return;
    const max = niceCeiling(Math.max(0, ...series.flatMap((s) => s.values)));
    for (const s of series) {
      const points = chartPoints(s.values, SLOTS, W, H, max);
      svg.querySelector(".line." + s.key)?.setAttribute("points", points);
      const area = svg.querySelector(".area." + s.key);
      if (area && points) {
        const left = points.split(" ")[0].split(",")[0];
        area.setAttribute("points", left + "," + H + " " + points + " " + W + "," + H);
      }
    }
    const top = document.getElementById(id + "-max");
    if (top) top.textContent = "scale 0–" + max + unit;
  };
  async function tick() {
    try {
      const response = await fetch("/api/stats", { headers: { accept: "application/json" } });
      if (!response.ok) throw new Error("status " + response.status);
      const body = await response.json();
      const sample = statsSample(body, Date.now());
      if (!sample) throw new Error("unexpected stats");
      samples.push(sample);
      if (samples.length > SLOTS + 1) samples.shift();
      try {
        sessionStorage.setItem(KEEP, JSON.stringify(samples));
      } catch {
        // Storage full or off: the chart still works for this page.
      }
      const accepted = rates(samples, "accepted");
      const delivered = rates(samples, "delivered");
      put("accepted-rate", rate(accepted.at(-1)));
      put("delivered-rate", rate(delivered.at(-1)));
      put("queue", String(sample.queue));
      put("held", String(body.queue?.held ?? 0));
      put("connections", String(body.connections ?? 0));
      if (typeof body.uptimeSeconds === "number") put("uptime", formatDuration(body.uptimeSeconds));
      for (const [key, value] of Object.entries(body.totals || {})) put("total-" + key, String(value));
      draw("throughput", [{ key: "accepted", values: accepted }, { key: "delivered", values: delivered }], "/s");
      draw("depth", [{ key: "queue", values: samples.map((s) => s.queue) }], "");
      setStatus(status, true, "live");
    } catch {
      setStatus(status, false, "stats unavailable");
    }
  }
  tick();
  setInterval(tick, EVERY);
}

// The terminal: messages for one user (SEND, SOML, SAML) as they arrive.
function terminal() {
  const box = $("#terminal");
  if (!box || !box.dataset.terminal) return;
  const lines = $("#terminal-lines");
  const status = $("#stream-status");
  const source = new EventSource(box.dataset.terminal);
  source.addEventListener("open", () => setStatus(status, true, "connected"));
  source.addEventListener("error", () => setStatus(status, false, "reconnecting…"));
  source.addEventListener("message", (message) => {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    lines.querySelector(".waiting")?.remove();
    const li = node("li", "line");
    const time = typeof data.time === "number" ? data.time : Date.parse(data.time) || Date.now();
    li.append(node("time", "", clock(time)), node("span", "from", data.from + ": "), node("span", "text", data.text));
    lines.append(li);
    li.scrollIntoView({ block: "nearest" });
  });
}

const page = document.body.dataset.page;
if (page === "dashboard") dashboard();
if (page === "terminal") terminal();
eventLogs();
liveRegions(3);
`;

/** The script. */
export const APP_JS: string = `"use strict";
(() => {
${sharedSource()}
${SCRIPT}
})();
`;
