// The operations wall: a dark full screen for the video wall, read from across the room. The map with red
// and orange standing out and the calm receding, the counts beside it, the live alarm feed, and one incident
// with what it threatens. Live over the console's alert stream; EventSource reconnects by itself after an API
// restart and every (re)connect starts with a snapshot, on which the counts are read again.
import {ALERT_STREAM, api, esc, LEVEL_RANK, listen, wallSummaryPath} from "./api.js";
import {currentLang, fmtTime, t, tEnum} from "./i18n.js";
import {chart, echarts, LEVEL_ORDER} from "./charts.js";
import {alertExplanation} from "./alert_text.js";
import {localName} from "./messages.js";

// on a dark wall the calm recedes: small and dim; yellow is seen; orange and red stand out and glow
const STYLE = {
  none: {size: 3, color: "#5b6b82", opacity: 0.35},
  blue: {size: 4, color: "#3b82c4", opacity: 0.5},
  yellow: {size: 7, color: "#e6c200", opacity: 0.85},
  orange: {size: 13, color: "#ff8c1a", opacity: 1, glow: 12},
  red: {size: 18, color: "#ff2d2d", opacity: 1, glow: 20},
};
const FEED_MAX = 14;  // what fits beside the map at 1080 px; the count says how many there are
const SUMMARY_EVERY_MS = 2_000;  // the counts follow the feed at most this often (one read per burst)
const ACTIVE = ["firing", "acknowledged"];
const RECONNECT_MS = 3_000;
const LARGE = 500;  // past this many markers a level is drawn in ECharts' large mode (one path, no per-marker style)
const painted = new Set();  // the parts of the first paint done: map, feed, counts
const afterPaint = [];  // what waits for the first paint (the two small charts): run once it is on screen

/** The wall's first paint is done when its map, feed and counts are all on screen (for the bench). */
function paintedPart(part) {
  painted.add(part);
  if (painted.size === 3 && !probe.firstPaintAt) {
    probe.firstPaintAt = performance.now();
    performance.mark("wall-first-paint");
    setTimeout(() => afterPaint.splice(0).forEach(fn => fn()), 0);  // after the frame that shows it
  }
}

function whenPainted(fn) {
  if (probe.firstPaintAt) fn(); else afterPaint.push(fn);
}
const probe = window.__console = {...(window.__console || {}), wallEvents: 0, wallRenderedAt: 0, mapReady: false};

// the wall's own compact map (/api/v1/console/wall/map): assets as columns {id, lon, lat, level (0..4)}
const MAP_PATH = "/api/v1/console/wall/map";
let mapData = null, mapChart = null, summary = null, selected = null;
let assetIndex = new Map();  // asset id -> its row in mapData.assets' columns
// the map is redrawn only when alerts changed since it was drawn: a snapshot landing before the map data
// must not draw 10,000 dots twice
let alertsVersion = 0, mapDrawnWith = -1;
const alerts = new Map();
let number = new Intl.NumberFormat("zh-CN");

const alertLevelOf = new Map();  // asset id -> the worst level of its active alerts
/** The asset in row i: the worse of its risk level and its active alerts' level. */
function assetLevel(i) {
  const risk = LEVEL_ORDER[mapData.assets.level[i]] || "none", alarm = alertLevelOf.get(mapData.assets.id[i]);
  return alarm && LEVEL_RANK[alarm] > LEVEL_RANK[risk] ? alarm : risk;
}

function takeMap(data) {
  mapData = data;
  assetIndex = new Map(data.assets.id.map((id, i) => [id, i]));
}

function recomputeAlertLevels() {
  alertLevelOf.clear();
  for (const a of alerts.values()) {
    if (!a.asset_id || !ACTIVE.includes(a.state)) continue;
    const had = alertLevelOf.get(a.asset_id) || "none";
    if (LEVEL_RANK[a.level] > LEVEL_RANK[had]) alertLevelOf.set(a.asset_id, a.level);
  }
}

function assetSeries() {
  // plain [lon, lat] pairs: no per-point object (and no name: the wall's dots are not clicked)
  const byLevel = Object.fromEntries(LEVEL_ORDER.map(l => [l, []]));
  const {lon, lat} = mapData.assets;
  for (let i = 0; i < lon.length; i++) if (lon[i] !== null && lat[i] !== null) byLevel[assetLevel(i)].push([lon[i], lat[i]]);
  return LEVEL_ORDER.map(l => {
    const s = STYLE[l];
    // a glow costs a blur per marker: only where there are few (a city with thousands of reds glows anyway)
    const glow = byLevel[l].length <= LARGE ? s.glow || 0 : 0;
    return {type: "scatter", id: `level-${l}`, coordinateSystem: "geo", data: byLevel[l], zlevel: 2, z: 2 + LEVEL_RANK[l],
            large: byLevel[l].length > LARGE, largeThreshold: LARGE, symbolSize: s.size,
            itemStyle: {color: s.color, opacity: s.opacity, shadowBlur: glow, shadowColor: s.color,
                        borderColor: s.glow ? "#fff" : undefined, borderWidth: s.glow ? 1.5 : 0}};
  });
}

function linkSeries() {
  const {lon, lat} = mapData.assets, at = id => [lon[assetIndex.get(id)], lat[assetIndex.get(id)]];
  const data = mapData.links.filter(l => assetIndex.has(l.source) && assetIndex.has(l.target)).map(l => ({
    coords: [at(l.source), at(l.target)], lineStyle: {color: (STYLE[LEVEL_ORDER[l.level]] || STYLE.none).color}}));
  return {type: "lines", id: "links", coordinateSystem: "geo", data, zlevel: 1, lineStyle: {width: 3, opacity: 0.95}};
}

function districtName(id) {
  const d = mapData.districts.find(x => x.id === id);
  return localName(d) || id;
}

function mapOption() {
  return {
    animation: false,
    geo: {map: "wall-city", roam: true, nameProperty: "id", layoutCenter: ["50%", "50%"], layoutSize: "96%",
          label: {show: true, formatter: p => districtName(p.name), color: "#e6edf7", fontSize: 18, fontWeight: 600,
                  textBorderColor: "#0b1220", textBorderWidth: 3},
          itemStyle: {areaColor: "#16223a", borderColor: "#4b5d7a", borderWidth: 1.5},
          emphasis: {label: {show: true, color: "#fff"}, itemStyle: {areaColor: "#1f3152"}},
          regions: mapData.districts.map(d => {
            const worst = Object.values(d.levels || {}).reduce((w, l) => (LEVEL_RANK[l] > LEVEL_RANK[w] ? l : w), "none");
            return {name: d.id, itemStyle: {areaColor: LEVEL_RANK[worst] >= 3 ? `${STYLE[worst].color}33` : "#16223a"}};
          })},
    series: [linkSeries(), ...assetSeries()],
  };
}

function legend() {
  const items = ["red", "orange", "yellow", "blue", "none"].map(l => `<li data-level="${l}"><i style="background:${STYLE[l].color};
    width:${Math.max(8, STYLE[l].size)}px;height:${Math.max(8, STYLE[l].size)}px;opacity:${STYLE[l].opacity}"></i>
    ${esc(tEnum("level", l))}</li>`).join("");
  return `<ul class="wall-legend" data-role="legend"><li class="head">${esc(t("wall.legend"))}</li>${items}
    <li><i class="link"></i>${esc(t("wall.coupling"))}</li></ul>`;
}

function drawMap(root) {
  const features = mapData.districts.filter(d => d.polygon).map(d => ({type: "Feature",
    properties: {id: d.id, name: localName(d) || d.id}, geometry: d.polygon}));
  echarts.registerMap("wall-city", {type: "FeatureCollection", features});
  if (!mapChart) {
    mapChart = chart(root.querySelector("#wall-map"));
    mapChart.on("finished", () => {
      if (!probe.mapReady) performance.mark("wall-painted");
      probe.mapReady = true;
      paintedPart("map");
    });
  }
  mapDrawnWith = alertsVersion;
  mapChart.setOption(mapOption(), {notMerge: true});
  root.querySelector("#wall-map-count").textContent = t("wall.map_count",
    {d: number.format(mapData.districts.length), a: number.format(mapData.assets.id.length)});
}

async function reloadMap(root) {
  try { takeMap(await api(MAP_PATH)); recomputeAlertLevels(); drawMap(root); }
  catch (e) { /* the map keeps what it showed; the live indicator says the link is down */ }
}

function redrawAssets() {
  if (!mapChart || !mapData || mapDrawnWith === alertsVersion) return;
  mapDrawnWith = alertsVersion;
  mapChart.setOption({series: [linkSeries(), ...assetSeries()]}, {replaceMerge: ["series"]});
}

function pct(online, total) { return total ? `${(100 * online / total).toFixed(1)}%` : "–"; }

function drawDevices(root) {
  const s = summary;
  const byKind = new Map(), byUtility = new Map();
  for (const d of s.devices) {
    const k = byKind.get(d.kind) || {total: 0, online: 0}; k.total += d.total; k.online += d.online; byKind.set(d.kind, k);
    const u = byUtility.get(d.utility_id) || {name: d, total: 0, online: 0};
    u.total += d.total; u.online += d.online; byUtility.set(d.utility_id, u);
  }
  const rows = (map, label) => [...map.entries()].sort((x, y) => y[1].total - x[1].total).slice(0, 6)
    .map(([id, v]) => `<tr><td>${label(id, v)}</td><td class="num">${esc(number.format(v.total))}</td>
      <td class="num">${esc(pct(v.online, v.total))}</td></tr>`).join("");
  root.querySelector("#wall-devices").innerHTML = `
    <div class="big"><b data-role="devices-total">${esc(number.format(s.devices_total))}</b>
      <span>${esc(t("wall.devices_total"))}</span>
      <b data-role="online-rate">${esc(pct(s.devices_online, s.devices_total))}</b><span>${esc(t("wall.online_rate"))}</span></div>
    <table><thead><tr><th>${esc(t("wall.by_utility"))}</th><th class="num">${esc(t("wall.count"))}</th>
      <th class="num">${esc(t("wall.online"))}</th></tr></thead>
      <tbody>${rows(byUtility, (id, v) => `<span data-entity>${esc(localName(v.name, "utility_name") || id)}</span>`)
        || `<tr><td colspan="3">${esc(t("wall.no_devices"))}</td></tr>`}</tbody>
      <thead><tr><th>${esc(t("wall.by_kind"))}</th><th></th><th></th></tr></thead>
      <tbody>${rows(byKind, id => esc(tEnum("sensor", id)))}</tbody></table>`;
}

function drawAlarms(root) {
  const s = summary;
  const chip = (l, n, role) => `<span class="wall-chip ${l}" data-role="${role}-${l}"><b>${esc(number.format(n))}</b>
    ${esc(tEnum("level", l))}</span>`;
  const levels = ["red", "orange", "yellow", "blue"];
  root.querySelector("#wall-active").innerHTML = levels.map(l => chip(l, s.active_by_level[l] || 0, "active")).join("");
  root.querySelector("#wall-today").innerHTML = levels.map(l => chip(l, s.today_by_level[l] || 0, "today")).join("");
}

/** The hazard bar and the 24 h trend: not part of the first paint, drawn after it (two more ECharts). */
function drawCharts(root) {
  const s = summary, levels = ["red", "orange", "yellow", "blue"];
  hazardChart = hazardChart || chart(root.querySelector("#wall-hazards"));
  trendChart = trendChart || chart(root.querySelector("#wall-trend"));
  const hazards = Object.entries(s.today_by_hazard).sort((x, y) => y[1] - x[1]);
  hazardChart.setOption({
    grid: {left: 110, right: 40, top: 6, bottom: 6}, animation: false,
    xAxis: {type: "value", show: false},
    yAxis: {type: "category", inverse: true, data: hazards.map(([h]) => tEnum("hazard", h)),
            axisLabel: {color: "#cbd5e1", fontSize: 15}, axisLine: {show: false}, axisTick: {show: false}},
    series: [{type: "bar", data: hazards.map(([, n]) => n), itemStyle: {color: "#ff8c1a"}, barMaxWidth: 18,
              label: {show: true, position: "right", color: "#e6edf7", fontSize: 14, formatter: p => number.format(p.value)}}],
  }, {notMerge: true});
  noDataDark(hazardChart, hazards.length === 0);
  const hours = s.trend.map(p => p.hour);
  trendChart.setOption({
    animation: false, grid: {left: 36, right: 10, top: 10, bottom: 24},
    xAxis: {type: "category", data: hours, axisLabel: {color: "#94a3b8", fontSize: 13, interval: 5,
            formatter: v => fmtTime(v, "hour")}, axisLine: {lineStyle: {color: "#475569"}}},
    yAxis: {type: "value", minInterval: 1, axisLabel: {color: "#94a3b8", fontSize: 13},
            splitLine: {lineStyle: {color: "#1e293b"}}},
    series: levels.slice().reverse().map(l => ({type: "bar", stack: "fired", name: tEnum("level", l),
      data: s.trend.map(p => p.by_level[l] || 0), itemStyle: {color: STYLE[l].color}})),
  }, {notMerge: true});
  noDataDark(trendChart, !s.trend.some(p => Object.values(p.by_level).some(n => n > 0)));
}

function noDataDark(c, empty) {
  c.setOption({graphic: empty ? [{type: "text", left: "center", top: "middle", silent: true,
    style: {text: t("chart.no_data"), fontSize: 16, fill: "#64748b"}}] : []});
  c.getDom().dataset.empty = empty ? "1" : "0";
}

let hazardChart = null, trendChart = null, summaryTimer = null, summaryAt = 0;

async function readSummary(root) {
  summaryAt = performance.now();
  try {
    summary = await api(wallSummaryPath());
    performance.mark("wall-summary");
    drawDevices(root);
    drawAlarms(root);
    paintedPart("counts");
    whenPainted(() => drawCharts(root));
    root.querySelector("#wall-asof").textContent = t("wall.as_of", {time: fmtTime(summary.now, "clock")});
    root.querySelector("#wall-stats").dataset.stale = "0";
  } catch (e) {
    root.querySelector("#wall-stats").dataset.stale = "1";  // the last numbers stay, marked as old
    root.querySelector("#wall-asof").textContent = t("wall.stale", {time: summary ? fmtTime(summary.now, "clock") : "–"});
  }
}

function summarySoon(root) {  // after a change: at most one read per SUMMARY_EVERY_MS
  if (summaryTimer) return;
  const wait = Math.max(0, SUMMARY_EVERY_MS - (performance.now() - summaryAt));
  summaryTimer = setTimeout(() => { summaryTimer = null; readSummary(root); }, wait);
}

function feedItems() {
  return [...alerts.values()].filter(a => ACTIVE.includes(a.state) && !(a.scope.startsWith("district:") && a.inhibited))
    .sort((x, y) => (LEVEL_RANK[y.level] - LEVEL_RANK[x.level]) || (y.fired_at > x.fired_at ? 1 : -1));
}

function drawFeed(root) {
  const list = feedItems();
  root.querySelector("#wall-feed-count").textContent = t("wall.feed_count", {n: number.format(list.length)});
  root.querySelector("#wall-feed").innerHTML = list.slice(0, FEED_MAX).map(a => `
    <li class="wall-alert ${esc(a.level)}${a.id === selected ? " selected" : ""}${a.state === "firing" && a.level === "red" ? " flash" : ""}"
        data-alert-id="${a.id}" data-level="${esc(a.level)}" tabindex="0">
      <span class="lvl ${esc(a.level)}">${esc(tEnum("level", a.level))}</span>
      <b>${esc(tEnum("hazard", a.hazard))}</b> <span class="when">${esc(fmtTime(a.fired_at, "clock"))}</span><br>
      <span data-entity>${esc(localName(a, "asset_name") || a.asset_id || localName(a, "district_name") || a.district_id || "")}</span>
      <span class="muted">${esc(tEnum("state", a.state))}</span></li>`).join("")
    || `<li class="muted">${esc(t("wall.feed_none"))}</li>`;
  probe.wallRenderedAt = performance.now();
  paintedPart("feed");
}

async function openIncident(root, id) {
  selected = id;
  drawFeed(root);
  const box = root.querySelector("#wall-incident");
  box.dataset.alertId = String(id);
  box.innerHTML = `<p class="muted">${esc(t("common.loading"))}</p>`;
  try {
    const a = await api(`/api/v1/console/wall/alerts/${id}/around`);
    const alert = alerts.get(id);
    const facilities = a.facilities.map(f => `<li data-facility="${esc(f.facility || "")}">${esc(tEnum("facility", f.facility))}
      <span data-entity>${esc(localName(f) || f.id)}</span> · ${esc(t("wall.metres", {m: number.format(f.distance_m)}))}</li>`).join("");
    box.innerHTML = `<h2><span class="lvl ${esc(a.level)}">${esc(tEnum("level", a.level))}</span>
        ${esc(tEnum("hazard", a.hazard))}</h2>
      <p><span data-entity>${esc(localName(a, "asset_name") || a.asset_id || "")}</span>${a.district_id
        ? ` · <span data-entity>${esc(localName(a, "district_name") || a.district_id)}</span>` : ""}</p>
      ${alert ? `<p class="muted" data-role="explanation">${esc(alertExplanation(alert))}</p>` : ""}
      <h3>${esc(t("wall.first_action"))}</h3><p data-role="first-action">${esc(currentLang() === "zh-CN" ? a.action_zh : a.action_en)}</p>
      <h3>${esc(t("wall.threatens"))}</h3>
      <p data-role="population">${esc(t("wall.population", {n: a.population === null ? "–" : number.format(a.population)}))}</p>
      <ul class="wall-facilities" data-role="facilities">${facilities || `<li class="muted">${esc(t("wall.no_facilities",
        {m: number.format(a.radius_m)}))}</li>`}</ul>
      ${a.facilities_partial ? `<p class="muted">${esc(t("wall.more_facilities"))}</p>` : ""}
      <p><a href="/console/?alert=${a.alert_id}">${esc(t("wall.open_alert"))}</a></p>`;
  } catch (e) {
    box.innerHTML = `<p class="error">${esc(t("error.load"))}: ${esc(e.message)}</p>`;
  }
}

function connect(root) {
  const live = document.getElementById("live");
  let drawScheduled = false;
  const schedule = () => {
    alertsVersion += 1;
    if (drawScheduled) return;
    drawScheduled = true;
    requestAnimationFrame(() => {
      drawScheduled = false; recomputeAlertLevels(); drawFeed(root); redrawAssets();
      performance.mark("wall-feed");
    });
  };
  const source = listen(ALERT_STREAM.url, {
    open: () => { live.dataset.state = "open"; live.textContent = t("live.open"); },
    error: () => {
      live.dataset.state = "error"; live.textContent = t("live.error");
      // EventSource retries a dropped connection itself, but gives up on an HTTP error (a 502/503 while the
      // API restarts): then open a new one, and its snapshot brings the wall back without a reload by hand
      if (source.readyState === EventSource.CLOSED) setTimeout(() => connect(root), RECONNECT_MS);
    },
    snapshot: ev => {  // the first one and each after a reconnect: the whole truth again
      performance.mark("wall-snapshot");
      const snap = JSON.parse(ev.data);
      alerts.clear();
      snap.alerts.forEach(a => alerts.set(a.id, a));
      probe.snapshots = (probe.snapshots || 0) + 1;
      if (probe.snapshots === 1) {
        alertsVersion += 1; recomputeAlertLevels(); drawFeed(root); redrawAssets();
        performance.mark("wall-feed");
      }
      else schedule();  // the first one is drawn at once: the feed is part of the first paint
      if (probe.snapshots > 1) { readSummary(root); reloadMap(root); }  // whatever changed while we were away
    },
    alert: ev => {
      const {alert} = JSON.parse(ev.data);
      const old = alerts.get(alert.id);
      if (old && old.row_version > alert.row_version) return;
      alerts.set(alert.id, alert);
      probe.wallEvents += 1;
      schedule();
      summarySoon(root);
    },
  });
}

function tick(root) { root.querySelector("#wall-clock").textContent = fmtTime(new Date().toISOString(), "clock"); }

export async function render(root) {
  document.body.classList.add("wall");
  number = new Intl.NumberFormat(currentLang());
  const mapLoad = api(MAP_PATH);
  root.innerHTML = `<div class="wall-grid">
    <section class="wall-card" id="wall-stats" data-stale="0">
      <h2>${esc(t("wall.devices"))}</h2><div id="wall-devices"></div>
      <h2>${esc(t("wall.active"))}</h2><div id="wall-active" class="wall-chips"></div>
      <h2>${esc(t("wall.today"))}</h2><div id="wall-today" class="wall-chips"></div>
      <h3>${esc(t("wall.by_hazard"))}</h3><div id="wall-hazards" class="wall-chart short"></div>
      <h3>${esc(t("wall.trend"))}</h3><div id="wall-trend" class="wall-chart short"></div>
      <p class="muted" id="wall-asof"></p>
    </section>
    <section class="wall-card wall-map-card"><div class="wall-map-head"><h2>${esc(t("wall.map"))}</h2>
      <span id="wall-map-count" class="muted"></span><span id="wall-clock" class="wall-clock"></span></div>
      <div id="wall-map" class="wall-map"></div>${legend()}</section>
    <section class="wall-card wall-side"><h2>${esc(t("wall.feed"))} <span id="wall-feed-count" class="muted"></span></h2>
      <ul id="wall-feed" class="wall-feed"><li class="muted">${esc(t("common.loading"))}</li></ul>
      <div id="wall-incident" class="wall-incident"><p class="muted">${esc(t("wall.pick"))}</p></div></section></div>`;
  connect(root);  // after the page is built: a snapshot already held is drawn at once
  readSummary(root);
  setInterval(() => readSummary(root), 60_000);  // "today" and the trend roll on without any alert
  tick(root);
  setInterval(() => tick(root), 1000);
  const pick = e => { const li = e.target.closest("[data-alert-id]"); if (li) openIncident(root, Number(li.dataset.alertId)); };
  root.querySelector("#wall-feed").addEventListener("click", pick);
  root.querySelector("#wall-feed").addEventListener("keydown", e => { if (e.key === "Enter") pick(e); });
  takeMap(await mapLoad);
  // drawing 10,000 dots holds the page for a few hundred ms: let what has already arrived (the counts) draw first
  await new Promise(resolve => setTimeout(resolve, 0));
  performance.mark("wall-map-data");
  recomputeAlertLevels();
  drawMap(root);
  performance.mark("wall-map-drawn");
  window.__console = Object.assign(probe, {
    assetLevel: id => (assetIndex.has(id) ? assetLevel(assetIndex.get(id)) : null),
    districts: () => mapData.districts.map(d => d.id),
    reloadMap: () => reloadMap(root),
  });
}
