// The risk map: districts (GeoJSON from the registry, no tile server) coloured by their level for one hazard,
// assets as markers coloured by theirs, coupled-risk links, and a click for the district or the asset.
import {api, esc, LEVEL_COLOUR, LEVEL_RANK} from "./api.js";
import {displayName, t, tEnum} from "./i18n.js";
import {chart, echarts, LEVEL_ORDER} from "./charts.js";

let data = null;
let hazard = "";
let mapChart = null;

function worst(levels) {
  return Object.values(levels || {}).reduce((w, l) => (LEVEL_RANK[l] > LEVEL_RANK[w] ? l : w), "none");
}

function levelOf(levels) { return hazard ? (levels || {})[hazard] || "none" : worst(levels); }

// One scatter series per level, styled once at the series level (a style object on every point made ECharts
// build a model per point), drawn in large mode past LARGE markers: one path per level instead of an element
// per marker, which cut the first paint of 3,000 assets from ~400 ms to ~40 ms. Tooltips and clicks still
// find the marker; only the hover enlargement is lost in large mode.
const LARGE = 500;
function assetSeries() {
  const byLevel = Object.fromEntries(LEVEL_ORDER.map(l => [l, []]));
  for (const a of data.assets) byLevel[levelOf(a.levels)].push({name: a.id, value: [a.lon, a.lat]});
  return LEVEL_ORDER.map(l => ({type: "scatter", coordinateSystem: "geo", data: byLevel[l], zlevel: 2,
                                large: true, largeThreshold: LARGE,
                                symbolSize: 7 + 2 * LEVEL_RANK[l], emphasis: {scale: 1.6},
                                itemStyle: {color: LEVEL_COLOUR[l], borderColor: "#fff", borderWidth: 1.5}}));
}

function option() {
  const byId = new Map(data.assets.map(a => [a.id, a]));
  const regions = data.districts.map(d => ({name: d.id, itemStyle: {areaColor: LEVEL_COLOUR[levelOf(d.levels)]}}));
  const links = data.links.filter(l => !hazard || l.hazard === hazard).filter(l => byId.has(l.source) && byId.has(l.target))
    .map(l => ({coords: [[byId.get(l.source).lon, byId.get(l.source).lat], [byId.get(l.target).lon, byId.get(l.target).lat]],
                lineStyle: {color: LEVEL_COLOUR[l.level]}}));
  return {
    animation: false,
    tooltip: {trigger: "item", formatter: p => p.seriesType === "scatter"
      ? `${esc(byId.get(p.name)?.name)} (${esc(tEnum("kind", byId.get(p.name)?.kind))})` : esc(nameOf(p.name))},
    geo: {map: "city", roam: true, nameProperty: "id", selectedMode: "single", regions,
          label: {show: true, formatter: p => nameOf(p.name), color: "#111"},
          itemStyle: {borderColor: "#555", areaColor: LEVEL_COLOUR.none}, emphasis: {label: {show: true}}},
    series: [
      {type: "lines", coordinateSystem: "geo", data: links, lineStyle: {width: 2, opacity: 0.9}, zlevel: 1},
      ...assetSeries(),
    ],
  };
}

function nameOf(districtId) { const d = data.districts.find(x => x.id === districtId); return d ? displayName(d) : districtId; }

function showDistrict(side, id) {
  const d = data.districts.find(x => x.id === id);
  if (!d) return;
  const assets = data.assets.filter(a => a.district_id === id)
    .sort((x, y) => LEVEL_RANK[levelOf(y.levels)] - LEVEL_RANK[levelOf(x.levels)]).slice(0, 50);
  side.dataset.district = id;
  side.innerHTML = `<h2 data-role="district-name">${esc(d.name)}</h2>
    <p class="muted">${esc(t("map.population"))}: ${esc(d.population)}</p>
    <table>${Object.entries(d.levels).map(([h, l]) => `<tr><td>${esc(tEnum("hazard", h))}</td>
      <td><span class="lvl ${esc(l)}">${esc(tEnum("level", l))}</span></td></tr>`).join("")}</table>
    <h3>${esc(t("map.assets"))}</h3>${assetList(assets)}`;
}

export function assetList(assets, levelFn = levelOf) {
  return `<table>${assets.map(a => `<tr><td><span class="lvl ${esc(levelFn(a.levels))}">${esc(tEnum("level", levelFn(a.levels)))}</span></td>
    <td><a href="/console/asset?id=${encodeURIComponent(a.id)}">${esc(a.name)}</a><br>
    <span class="muted">${esc(tEnum("kind", a.kind))}</span></td></tr>`).join("")}</table>`;
}

function showAsset(side, id) {
  const a = data.assets.find(x => x.id === id);
  if (!a) return;
  const links = data.links.filter(l => l.target === id || l.source === id);
  side.dataset.asset = id;
  side.innerHTML = `<h2>${esc(a.name)}</h2><p class="muted">${esc(tEnum("kind", a.kind))} · ${esc(nameOf(a.district_id))}</p>
    <table>${Object.entries(a.levels).map(([h, l]) => `<tr><td>${esc(tEnum("hazard", h))}</td>
      <td><span class="lvl ${esc(l)}">${esc(tEnum("level", l))}</span></td></tr>`).join("")}</table>
    ${links.length ? `<h3>${esc(t("map.coupled"))}</h3><ul>${links.map(l => `<li>${esc(l.detail)}</li>`).join("")}</ul>` : ""}
    <p><a href="/console/asset?id=${encodeURIComponent(id)}">${esc(t("map.open_asset"))}</a></p>`;
}

export async function render(root) {
  document.getElementById("live").hidden = true;
  data = await api("/api/v1/console/map");
  performance.mark("map-data");  // the phases of the first paint, for `resilience bench console`
  root.innerHTML = `<div class="cols"><section class="card"><div class="filters">
      <label>${esc(t("filter.hazard"))} <select id="m-hazard"><option value="">${esc(t("map.worst"))}</option>
      ${data.hazards.map(h => `<option value="${esc(h)}">${esc(tEnum("hazard", h))}</option>`).join("")}</select></label>
      <span class="muted">${esc(t("map.summary", {d: data.districts.length, a: data.assets.length, l: data.links.length}))}</span>
    </div><div id="map" class="chart tall"></div></section>
    <section class="card" id="side"><p class="muted">${esc(t("map.pick"))}</p></section></div>`;
  const features = data.districts.filter(d => d.polygon).map(d => ({type: "Feature", properties: {id: d.id, name: d.name},
                                                                   geometry: d.polygon}));
  echarts.registerMap("city", {type: "FeatureCollection", features});
  mapChart = chart(root.querySelector("#map"));
  // set once the first frame is drawn: clicks before that land on nothing (tests and screen readers wait for it)
  mapChart.on("finished", () => {
    if (!window.__console?.mapReady) performance.mark("map-painted");
    window.__console = {...(window.__console || {}), mapReady: true};
  });
  mapChart.setOption(option());
  performance.mark("map-drawn");
  const side = root.querySelector("#side");
  mapChart.on("click", p => {
    if (p.componentType === "geo") showDistrict(side, p.name);
    else if (p.seriesType === "scatter") showAsset(side, p.name);
  });
  root.querySelector("#m-hazard").addEventListener("change", e => { hazard = e.target.value; mapChart.setOption(option(), {replaceMerge: ["series"]}); });
  window.__console = {...(window.__console || {}),
    districtPixel: id => {
      const d = data.districts.find(x => x.id === id);
      const ring = d.polygon.coordinates[0];
      const lon = ring.reduce((s, p) => s + p[0], 0) / ring.length, lat = ring.reduce((s, p) => s + p[1], 0) / ring.length;
      return mapChart.convertToPixel({geoIndex: 0}, [lon, lat]);
    },
    assetPixel: id => { const a = data.assets.find(x => x.id === id); return mapChart.convertToPixel({geoIndex: 0}, [a.lon, a.lat]); }};
}
