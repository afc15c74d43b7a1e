// One asset: each sensor's readings in a zoomable chart with its limits drawn and anomaly spans shaded, the
// asset's risk series with its explanation, and its alert history.
import {api, esc, HISTORY_ROLES, LEVEL_COLOUR} from "./api.js";
import {fmtTime, t, tEnum} from "./i18n.js";
import {chart, noData, timeTooltip} from "./charts.js";
import {riskExplanation} from "./risk_text.js";
import {alertExplanation} from "./alert_text.js";
import {forecastsHtml} from "./forecast_text.js";
import {localName, rowName} from "./messages.js";

const DAY_MS = 24 * 3600e3;

const LIVE_EXPLANATION_MS = 30_000;

function sensorOption(sensor, readings, anomalies) {
  // limits close together (yellow 0.16 beside orange 0.14) would print their labels over each other: they take
  // turns at the line's two ends
  const limits = Object.entries(sensor.limits).sort((x, y) => x[1] - y[1]).map(([level, value], i) => ({yAxis: value,
    name: tEnum("level", level), lineStyle: {color: LEVEL_COLOUR[level], type: "dashed"},
    label: {formatter: `${tEnum("level", level)} ${value}`, position: i % 2 ? "insideStartTop" : "insideEndTop"}}));
  // an open anomaly lasts until now; a short one is drawn at least three sampling intervals wide, so it shows
  const minWidth = 3 * sensor.expected_interval_s * 1000;
  const spans = anomalies.map(a => {
    const start = Date.parse(a.start), end = Math.max(a.end ? Date.parse(a.end) : Date.now(), start + minWidth);
    return [{xAxis: start, itemStyle: {color: LEVEL_COLOUR[a.level === "none" ? "blue" : a.level], opacity: 0.25}},
            {xAxis: end}];
  });
  return {
    animation: false, tooltip: timeTooltip(), grid: {left: 60, right: 90, top: 30, bottom: 60},
    title: {text: `${sensor.id} · ${tEnum("sensor", sensor.kind)} (${sensor.unit_label || sensor.unit})`, textStyle: {fontSize: 13}},
    xAxis: {type: "time", max: v => Math.max(v.max, ...spans.map(span => span[1].xAxis))},
    yAxis: {type: "value", scale: true},
    dataZoom: [{type: "inside"}, {type: "slider", height: 18, bottom: 8}],
    series: [{name: `${tEnum("sensor", sensor.kind)} (${sensor.unit_label || sensor.unit})`, type: "line", showSymbol: false, data: readings,
              lineStyle: {width: 1.5},
              markLine: {symbol: "none", silent: true, data: limits},
              markArea: {silent: true, data: spans}}],
  };
}

async function sensorChart(box, sensor, start) {
  const fast = sensor.expected_interval_s < 30;
  const q = `start=${encodeURIComponent(start)}&limit=5000${fast ? "&bucket=1m&agg=max" : ""}`;
  const [r, an] = await Promise.all([api(`/api/v1/sensors/${encodeURIComponent(sensor.id)}/readings?${q}`),
    api(`/api/v1/anomalies?sensor_id=${encodeURIComponent(sensor.id)}&since=${encodeURIComponent(start)}&limit=500`)]);
  const points = r.data.map(p => [p.ts || p.bucket, p.value]);
  const el = document.createElement("div");
  el.className = "chart";
  el.dataset.sensor = sensor.id;
  el.dataset.anomalies = String(an.data.length);
  box.append(el);
  const c = chart(el);
  const option = sensorOption(sensor, points, an.data);
  c.setOption(option);
  noData(c, option.series || []);
}

async function riskChart(root, assetId, start) {
  const s = await api(`/api/v1/risk/series?scope=asset:${encodeURIComponent(assetId)}&start=${encodeURIComponent(start)}&bucket=15m`);
  const byHazard = {};
  s.data.forEach(p => (byHazard[p.hazard] ??= []).push([p.bucket, p.max_score]));
  const el = root.querySelector("#risk-chart");
  const c = chart(el);
  const series = Object.entries(byHazard).map(([h, data]) => ({name: tEnum("hazard", h), type: "line", step: "end",
                                                               data, showSymbol: data.length < 50}));
  c.setOption({animation: false, tooltip: timeTooltip(2), legend: {top: 0},
    grid: {left: 50, right: 20, top: 30, bottom: 50}, xAxis: {type: "time", min: start, max: Date.now()},
    yAxis: {type: "value", min: 0, max: 1},
    dataZoom: [{type: "inside"}, {type: "slider", height: 18, bottom: 8}], series});
  noData(c, series);
}

function riskTable(risk, asset) {
  return risk.length ? `<table>${risk.map(r => `<tr><td>${esc(tEnum("hazard", r.hazard))}</td>
    <td><span class="lvl ${esc(r.level)}">${esc(tEnum("level", r.level))}</span></td>
    <td>${esc(r.score.toFixed(2))}</td><td class="muted" data-role="risk-explanation">${esc(riskExplanation(r, asset))}</td></tr>`).join("")}</table>`
    : `<p class="muted">${esc(t("asset.no_risk"))}</p>`;
}

function alertTable(list) {
  return list.length ? `<table><thead><tr><th>${esc(t("col.level"))}</th><th>${esc(t("col.what"))}</th>
    <th>${esc(t("col.state"))}</th><th>${esc(t("col.fired"))}</th></tr></thead><tbody>${list.map(a => `<tr>
    <td><span class="lvl ${esc(a.level)}">${esc(tEnum("level", a.level))}</span></td><td>${esc(tEnum("hazard", a.hazard))}
    <br><span class="muted">${esc(alertExplanation(a))}</span></td><td>${esc(tEnum("state", a.state))}</td>
    <td class="muted">${esc(fmtTime(a.fired_at))}</td></tr>`).join("")}</tbody></table>`
    : `<p class="muted">${esc(t("asset.no_alerts"))}</p>`;
}

export async function render(root, who) {
  document.getElementById("live").hidden = true;
  const id = new URLSearchParams(location.search).get("id") || "";
  const info = await api(`/api/v1/console/assets/${encodeURIComponent(id)}`);
  const a = info.asset;
  const history = HISTORY_ROLES.includes(who.role);
  const alerts = await api(`/api/v1/alerts?asset_id=${encodeURIComponent(id)}&limit=100`);
  root.innerHTML = `<section class="card"><h2 data-role="asset-name">${esc(rowName(a))}</h2>
      <p class="muted">${esc(tEnum("kind", a.kind))} · ${esc(localName(info, "district_name"))} · ${esc(t("asset.criticality"))} ${esc(a.criticality)}</p>
    </section>
    <section class="card"><h2>${esc(t("asset.sensors"))}</h2>${history ? `<div id="sensors" class="grid2"></div>`
      : `<p class="muted">${esc(t("asset.history_role"))}</p>`}</section>
    <section class="card"><h2>${esc(t("asset.risk"))}</h2>${riskTable(info.risk, info.asset)}${forecastsHtml(info.forecasts)}
      ${history ? `<div id="risk-chart" class="chart"></div>` : ""}</section>
    <section class="card"><h2>${esc(t("asset.alerts"))}</h2>${alertTable(alerts.data)}</section>`;
  // the explanations name how long each open anomaly has lasted: counted on while the page stays open
  const explained = [...root.querySelectorAll("[data-role='risk-explanation']")];
  setInterval(() => explained.forEach((cell, i) => { cell.textContent = riskExplanation(info.risk[i], info.asset); }),
              LIVE_EXPLANATION_MS);
  if (!history) return;
  const start = new Date(Date.now() - DAY_MS).toISOString();
  const box = root.querySelector("#sensors");
  await Promise.all([...info.sensors.map(s => sensorChart(box, s, start)), riskChart(root, id, start)]);
}
