// The engineers' page: several sensors (or one risk scope) over a period, bucketed and aggregated, charted
// together; the same query downloads as CSV from the readings and risk-series APIs.
import {api, esc} from "./api.js";
import {currentLang, enumValues, t, tEnum} from "./i18n.js";
import {chart, noData, timeTooltip} from "./charts.js";

const BUCKETS = ["", "1m", "5m", "15m", "1h", "6h", "1d"];
const MAX_PAGES = 4;  // pages of 50,000 followed for one chart; beyond that the chart says it is partial
const AGGS = ["avg", "min", "max", "last", "count", "sum"];

function localInput(d) {
  const pad = n => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function query(root) {
  const v = id => root.querySelector(id).value.trim();
  const start = new Date(v("#e-start")).toISOString(), end = new Date(v("#e-end")).toISOString();
  return {sensors: v("#e-sensors").split(/[\s,]+/).filter(Boolean), scope: v("#e-scope"), hazard: v("#e-hazard"),
          bucket: v("#e-bucket"), agg: v("#e-agg"), start, end};
}

function urls(q) {
  const period = `start=${encodeURIComponent(q.start)}&end=${encodeURIComponent(q.end)}`;
  if (q.scope === "districts") {  // one hazard, every district side by side (one call)
    if (!q.hazard) throw new Error(t("eng.need_hazard"));
    const url = `/api/v1/risk/hazards/${encodeURIComponent(q.hazard)}/series?${period}&bucket=${q.bucket || "1h"}`;
    return [{name: tEnum("hazard", q.hazard), url, districts: true}];
  }
  if (q.scope) {
    const b = q.bucket ? `&bucket=${q.bucket}` : "";
    const h = q.hazard ? `&hazard=${encodeURIComponent(q.hazard)}` : "";
    return [{name: q.scope, url: `/api/v1/risk/series?scope=${encodeURIComponent(q.scope)}${h}&${period}${b}`, risk: true}];
  }
  const b = q.bucket ? `&bucket=${q.bucket}&agg=${q.agg}` : "";
  return q.sensors.map(s => ({name: s, url: `/api/v1/sensors/${encodeURIComponent(s)}/readings?${period}${b}&limit=50000`,
                              exportUrl: q.bucket ? null : `/api/v1/sensors/${encodeURIComponent(s)}/readings/export?${period}`}));
}

/** A series' pages, following ``next`` (MAX_PAGES at most): the rows, and whether more remain. */
async function pages(url) {
  let r = await api(url);
  const rows = [...r.data];
  for (let n = 1; r.next && n < MAX_PAGES; n++) {
    const u = new URL(url, location.origin);
    u.searchParams.set("start", r.next);
    r = await api(u.pathname + u.search);
    rows.push(...r.data);
  }
  return {first: r, rows, partial: Boolean(r.next)};
}

async function plot(root) {
  const out = root.querySelector("#e-error");
  out.textContent = "";
  try {
    const q = query(root);
    const series = [], cut = [];
    for (const u of urls(q)) {
      const whole = u.risk || u.districts;  // risk answers are bounded by their bucket count: one page
      const {first: r, rows, partial} = whole ? {first: await api(u.url), rows: null, partial: false} : await pages(u.url);
      if (partial) cut.push(u.name);
      if (u.districts) {
        r.districts.forEach(d => series.push({name: `${d.district_id} ${u.name}`, type: "line", showSymbol: d.data.length < 50,
                                              data: d.data.map(p => [p.bucket, p.max_score])}));
      } else if (u.risk) {
        const by = {};
        r.data.forEach(p => (by[p.hazard] ??= []).push([p.bucket || p.ts, p.max_score ?? p.score]));
        Object.entries(by).forEach(([h, data]) => series.push({name: `${u.name} ${tEnum("hazard", h)}`, type: "line", data, showSymbol: data.length < 50}));
      } else {
        series.push({name: `${u.name} (${r.unit_label || r.unit})`, type: "line", showSymbol: false,
                     data: rows.map(p => [p.ts || p.bucket, p.value])});
      }
    }
    const c = chart(root.querySelector("#e-chart"));
    c.setOption({animation: false, tooltip: timeTooltip(), legend: {top: 0}, grid: {left: 60, right: 20, top: 30, bottom: 60},
                 xAxis: {type: "time"}, yAxis: {type: "value", scale: true},
                 dataZoom: [{type: "inside"}, {type: "slider", height: 18, bottom: 8}], series}, true);
    noData(c, series);
    const note = root.querySelector("#e-partial");  // never a silent cut: say which series the chart stops short on
    note.hidden = cut.length === 0;
    note.textContent = cut.length ? t("eng.partial", {series: cut.join(", "), n: (MAX_PAGES * 50000).toLocaleString(currentLang())}) : "";
    root.querySelector("#e-chart").dataset.series = String(series.length);
  } catch (e) { out.textContent = `${t("act.failed")}: ${e.detail || e.message}`; }
}

async function download(root) {
  const out = root.querySelector("#e-error");
  try {
    for (const u of urls(query(root))) {
      if (u.exportUrl) {  // raw readings: the whole range, streamed by the server, however long
        const a = document.createElement("a");
        a.href = u.exportUrl;
        a.download = `${u.name.replace(/[^A-Za-z0-9_.-]/g, "_")}.csv`;
        a.click();
        continue;
      }
      const blob = await api(u.url, {accept: "text/csv"});
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `${u.name.replace(/[^A-Za-z0-9_.-]/g, "_")}.csv`;
      a.click();
      URL.revokeObjectURL(a.href);
    }
  } catch (e) { out.textContent = `${t("act.failed")}: ${e.detail || e.message}`; }
}

export async function render(root) {
  document.getElementById("live").hidden = true;
  const now = new Date(), before = new Date(Date.now() - 6 * 3600e3);
  const preset = new URLSearchParams(location.search).get("sensors") || "";
  root.innerHTML = `<section class="card"><h2>${esc(t("eng.title"))}</h2><div class="filters">
      <label>${esc(t("eng.sensors"))} <input id="e-sensors" size="28" value="${esc(preset)}" placeholder="S000001, S000002"></label>
      <label>${esc(t("eng.scope"))} <input id="e-scope" size="16" placeholder="district:D01 | districts" list="e-scopes"><datalist id="e-scopes"><option value="districts"><option value="city"></datalist></label>
      <label>${esc(t("filter.hazard"))} <select id="e-hazard"><option value="">${esc(t("filter.all_hazards"))}</option>
        ${enumValues("hazard").map(h => `<option value="${esc(h)}">${esc(tEnum("hazard", h))}</option>`).join("")}</select></label>
      <label>${esc(t("eng.start"))} <input id="e-start" type="datetime-local" value="${localInput(before)}"></label>
      <label>${esc(t("eng.end"))} <input id="e-end" type="datetime-local" value="${localInput(now)}"></label>
      <label>${esc(t("eng.bucket"))} <select id="e-bucket">${BUCKETS.map(b => `<option value="${b}">${esc(b || t("eng.raw"))}</option>`).join("")}</select></label>
      <label>${esc(t("eng.agg"))} <select id="e-agg">${AGGS.map(a => `<option value="${a}">${esc(tEnum("agg", a))}</option>`).join("")}</select></label>
      <button id="e-plot" class="primary" type="button">${esc(t("eng.plot"))}</button>
      <button id="e-csv" type="button">${esc(t("eng.csv"))}</button></div>
      <p class="muted">${esc(t("eng.hint"))}</p><p id="e-error" class="error"></p>
      <p id="e-partial" class="error" hidden></p>
      <div id="e-chart" class="chart tall"></div></section>`;
  root.querySelector("#e-plot").addEventListener("click", () => plot(root));
  root.querySelector("#e-csv").addEventListener("click", () => download(root));
  if (preset) await plot(root);
}
