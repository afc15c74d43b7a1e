// Response times by hazard and district: a table and a chart, against the red targets.
import {api, esc} from "./api.js";
import {fmtDuration, t, tEnum} from "./i18n.js";
import {chart, noData} from "./charts.js";

const MEASURES = ["fire_to_ack", "fire_to_on_site", "fire_to_disposed"];

export async function render(root) {
  document.getElementById("live").hidden = true;
  const r = await api("/api/v1/console/reports/response-times");
  const label = row => `${tEnum("hazard", row.hazard)} · ${row.district_name || row.district_id || "–"}`;
  root.innerHTML = `<section class="card"><h2>${esc(t("rep.title"))}</h2>
      <div id="r-chart" class="chart tall"></div></section>
    <section class="card"><table><thead><tr><th>${esc(t("filter.hazard"))}</th><th>${esc(t("col.district"))}</th>
      <th>${esc(t("rep.alerts"))}</th>${MEASURES.map(m => `<th>${esc(t(`rep.${m}`))}</th>`).join("")}
      <th>${esc(t("rep.red_target"))}</th></tr></thead>
      <tbody>${r.data.length ? r.data.map(row => `<tr data-report-row="${esc(row.hazard)}|${esc(row.district_id || "")}">
        <td>${esc(tEnum("hazard", row.hazard))}</td><td>${esc(row.district_name || row.district_id || "–")}</td>
        <td>${esc(row.alerts)}</td>${MEASURES.map(m => `<td>${esc(fmtDuration(row[m].median_s))}
        <span class="muted">(${esc(t("rep.n", {n: row[m].count}))})</span></td>`).join("")}
        <td data-role="red-target">${esc([row.red_targets.ack, row.red_targets.on_site, row.red_targets.disposed]
          .map(fmtDuration).join(" / "))}</td></tr>`).join("")
        : `<tr><td colspan="7" class="muted">${esc(t("rep.none"))}</td></tr>`}</tbody></table>
      <p class="muted">${esc(t("rep.targets", {ack: fmtDuration(r.targets.red.ack), site: fmtDuration(r.targets.red.on_site),
                                               done: fmtDuration(r.targets.red.disposed)}))}</p></section>`;
  const c = chart(root.querySelector("#r-chart"));
  const series = MEASURES.map(m => ({name: t(`rep.${m}`), type: "bar",
    data: r.data.map(row => row[m].median_s === null ? null : +(row[m].median_s / 60).toFixed(1))}));
  c.setOption({animation: false, tooltip: {trigger: "axis"}, legend: {top: 0}, grid: {left: 200, right: 30, top: 30, bottom: 30},
    yAxis: {type: "category", data: r.data.map(label)},
    xAxis: {type: "value", name: t("rep.minutes")},
    series});
  noData(c, series);
}
