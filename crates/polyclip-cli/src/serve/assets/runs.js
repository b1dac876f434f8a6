// The runs view: the run folders under --runs, and for one run every stage's curves from metrics.jsonl and the
// report's tables; a run still writing is refreshed every few seconds.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 5000;

async function api(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  Object.assign(node, attrs || {});
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

// Round tick values: 1, 2 or 5 times a power of ten.
function ticks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function chart(title, points, marked) {
  const box = el("div", { className: "chart" });
  box.append(el("h3", {}, title));
  const W = 360, H = 200, L = 56, R = 10, T = 8, B = 34;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": title });
  if (points.length === 0) { box.append(root); return box; }
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const xt = ticks(x0, x1 > x0 ? x1 : x0 + 1, 5), yt = ticks(y0, y1 > y0 ? y1 : y0 + 1, 4);
  const xa = xt[0] < x0 ? xt[0] : x0, xb = Math.max(x1, xt[xt.length - 1]);
  const ya = Math.min(y0, yt[0]), yb = Math.max(y1, yt[yt.length - 1]);
  const sx = (v) => L + ((v - xa) / (xb - xa || 1)) * (W - L - R);
  const sy = (v) => H - B - ((v - ya) / (yb - ya || 1)) * (H - T - B);
  for (const v of yt) {
    root.append(svg("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), stroke: "#e3e7ec" }));
    const label = svg("text", { x: L - 4, y: sy(v) + 4, "text-anchor": "end", "font-size": 10 });
    label.textContent = Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-4 && v !== 0) ? v.toExponential(1) : String(v);
    root.append(label);
  }
  for (const v of xt) {
    const label = svg("text", { x: sx(v), y: H - B + 14, "text-anchor": "middle", "font-size": 10 });
    label.textContent = String(v);
    root.append(label);
  }
  const axis = svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", "font-size": 11 });
  axis.textContent = "step";
  root.append(axis);
  const path = points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
  root.append(svg("path", { d: path, fill: "none", stroke: marked ? "none" : "#3465a4", "stroke-width": 1.3 }));
  if (marked) {
    for (const p of points) root.append(svg("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3, fill: "#c4501b" }));
  }
  box.append(root);
  return box;
}

// A Markdown table block → an HTML table (report.md's tables).
function markdownTables(md) {
  const out = el("div");
  let table = null;
  for (const line of md.split("\n")) {
    if (line.startsWith("|")) {
      const cells = line.split("|").slice(1, -1).map((c) => c.trim());
      if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
      if (!table) { table = el("table"); out.append(table); }
      const row = el("tr");
      for (const c of cells) row.append(el(table.rows.length ? "td" : "th", {}, c.replaceAll("**", "")));
      table.append(row);
    } else {
      table = null;
      const text = line.replace(/^#+\s*/, "").trim();
      if (text) out.append(el(line.startsWith("#") ? "h3" : "p", {}, text));
    }
  }
  return out;
}

async function showList() {
  const body = await api("/api/runs");
  $("where").textContent = body.root;
  const list = el("ul", { id: "run-list" });
  for (const run of body.runs) {
    const item = el("li");
    item.append(el("a", { href: `/runs/${encodeURIComponent(run.name)}` }, run.name));
    item.append(` — ${run.title || ""} (${run.stages.join(", ")})${run.finished ? "" : " · running"}`);
    list.append(item);
  }
  $("list").replaceChildren(el("h2", {}, "Runs"), list);
}

async function showRun(name) {
  const body = await api(`/api/runs/${encodeURIComponent(name)}`);
  const section = $("run");
  section.replaceChildren(el("h2", {}, `${body.name}${body.finished ? "" : " (running)"}`));
  for (const stage of body.stages) {
    section.append(el("h3", {}, `stage ${stage.name} · ${stage.metrics.length} records`));
    const charts = el("div", { className: "charts" });
    const keys = new Set();
    for (const m of stage.metrics) for (const k of Object.keys(m)) if (k !== "step" && typeof m[k] === "number") keys.add(k);
    for (const key of keys) {
      const points = stage.metrics.filter((m) => typeof m[key] === "number").map((m) => [m.step, m[key]]);
      const evaluation = /^(val|eval|valid)/.test(key);
      charts.append(chart(key.replaceAll("_", " "), points, evaluation));
    }
    section.append(charts);
  }
  if (body.report_md) section.append(markdownTables(body.report_md));
  $("status").textContent = body.finished ? "finished" : `refreshing every ${REFRESH_MS / 1000} s`;
  if (!body.finished) setTimeout(() => showRun(name).catch((e) => ($("status").textContent = e.message)), REFRESH_MS);
}

const parts = location.pathname.split("/").filter(Boolean);
(parts.length > 1 ? showRun(decodeURIComponent(parts[1])) : showList()).catch((e) => {
  $("status").textContent = e.message;
  $("status").className = "error";
});
