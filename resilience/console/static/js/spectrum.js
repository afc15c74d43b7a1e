// The risk spectrum: hazard x district heat map of levels; a cell opens its assets; a slider replays the
// last 24 h from the risk series (engineers and operators; a viewer sees the current matrix only).
import {api, esc, HISTORY_ROLES, LEVEL_RANK} from "./api.js";
import {fmtTime, t, tEnum} from "./i18n.js";
import {rowName} from "./messages.js";
import {chart, levelVisualMap} from "./charts.js";
import {assetList} from "./map.js";

let heat = null;

function option(hazards, districts, levels, names) {
  const cells = [];
  hazards.forEach((h, y) => districts.forEach((d, x) => cells.push([x, y, LEVEL_RANK[levels[y][x]] ?? 0])));
  return {
    animation: false,
    tooltip: {formatter: p => `${esc(tEnum("hazard", hazards[p.value[1]]))} · ${esc(names[districts[p.value[0]]] || districts[p.value[0]])}`},
    grid: {left: 130, right: 20, top: 10, bottom: 80},
    xAxis: {type: "category", data: districts.map(d => names[d] || d), axisLabel: {rotate: 30}},
    yAxis: {type: "category", data: hazards.map(h => tEnum("hazard", h))},
    visualMap: levelVisualMap(l => tEnum("level", l)),
    series: [{type: "heatmap", data: cells, label: {show: false}, itemStyle: {borderColor: "#fff", borderWidth: 1}}],
  };
}

export async function render(root, who) {
  document.getElementById("live").hidden = true;
  const [current, map] = await Promise.all([api("/api/v1/risk/spectrum"), api("/api/v1/console/map")]);
  const names = Object.fromEntries(map.districts.map(d => [d.id, rowName(d)]));
  root.innerHTML = `<div class="cols"><section class="card">
      <h2>${esc(t("spectrum.title"))} <span id="at" class="muted">${esc(fmtTime(current.updated_at))}</span></h2>
      <div class="filters" id="replay" hidden><label>${esc(t("spectrum.replay"))}
        <input id="slider" type="range" min="0" max="0" value="0" style="width:360px"></label>
        <button id="now" type="button">${esc(t("spectrum.now"))}</button></div>
      <div id="heat" class="chart tall"></div></section>
    <section class="card" id="cell"><p class="muted">${esc(t("spectrum.pick"))}</p></section></div>`;
  heat = chart(root.querySelector("#heat"));
  let shown = {hazards: current.hazards, districts: current.districts, levels: current.levels};
  const draw = () => heat.setOption(option(shown.hazards, shown.districts, shown.levels, names), true);
  if (!current.hazards.length) root.querySelector("#heat").innerHTML = `<p class="muted">${esc(t("spectrum.empty"))}</p>`;
  else draw();
  heat.on("click", p => {
    const hazard = shown.hazards[p.value[1]], district = shown.districts[p.value[0]];
    const assets = map.assets.filter(a => a.district_id === district && a.levels[hazard])
      .sort((x, y) => LEVEL_RANK[y.levels[hazard]] - LEVEL_RANK[x.levels[hazard]]).slice(0, 100);
    const side = root.querySelector("#cell");
    side.dataset.cell = `${hazard}|${district}`;
    side.innerHTML = `<h2>${esc(tEnum("hazard", hazard))} · ${esc(names[district] || district)}</h2>
      ${assets.length ? assetList(assets, levels => levels[hazard] || "none") : `<p class="muted">${esc(t("spectrum.no_assets"))}</p>`}`;
  });
  window.__console = {...(window.__console || {}),
    cellPixel: (hazard, district) => heat.convertToPixel({seriesIndex: 0},
      [shown.districts.indexOf(district), shown.hazards.indexOf(hazard)]),
    cellLevel: (hazard, district) => shown.levels[shown.hazards.indexOf(hazard)]?.[shown.districts.indexOf(district)]};
  if (!HISTORY_ROLES.includes(who.role)) return;
  const replay = await api("/api/v1/console/spectrum/replay?hours=24&step_minutes=60");
  if (!replay.frames.length || !replay.hazards.length) return;
  const slider = root.querySelector("#slider");
  root.querySelector("#replay").hidden = false;
  slider.max = String(replay.frames.length - 1);
  slider.value = slider.max;
  slider.addEventListener("input", () => {
    const f = replay.frames[Number(slider.value)];
    shown = {hazards: replay.hazards, districts: replay.districts, levels: f.levels};
    root.querySelector("#at").textContent = fmtTime(f.at);
    draw();
  });
  root.querySelector("#now").addEventListener("click", () => {
    shown = {hazards: current.hazards, districts: current.districts, levels: current.levels};
    root.querySelector("#at").textContent = fmtTime(current.updated_at);
    slider.value = slider.max;
    draw();
  });
}
