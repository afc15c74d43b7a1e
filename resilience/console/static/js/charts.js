// ECharts (vendored from npm by `make console`), in the viewer's language, and the shared level scale.
import * as echarts from "/console/static/vendor/echarts.esm.min.js";
import {esc, LEVEL_COLOUR, LEVEL_RANK} from "./api.js";
import {currentLang, fmtTime, t} from "./i18n.js";

export {echarts};
window.__echarts = echarts;  // for the browser tests and a console user's own diagnostics
export const LEVEL_ORDER = ["none", "blue", "yellow", "orange", "red"];

/** A chart whose own words (month and weekday names on time axes, the zoom slider's) are in the viewer's
 * language: ECharts carries its ZH and EN locales. */
export function chart(el) {
  const c = echarts.init(el, null, {renderer: "canvas", locale: currentLang() === "zh-CN" ? "ZH" : "EN"});
  window.addEventListener("resize", () => c.resize());
  return c;
}

/** A piecewise visual map from level rank (0..4) to the level colours, labelled in the viewer's language. */
export function levelVisualMap(label, extra = {}) {
  return {type: "piecewise", dimension: 2, orient: "horizontal", left: "center", bottom: 0,
          pieces: LEVEL_ORDER.map(l => ({value: LEVEL_RANK[l], label: label(l), color: LEVEL_COLOUR[l]})), ...extra};
}

/** The tooltip of a time-series chart: the time in the viewer's zone and language, then each series' name
 * (already translated by the caller) and its value in the viewer's number format. ECharts' default header
 * is its own fixed "yyyy-MM-dd HH:mm:ss" in UTC-less local time, with no zone and no language. */
export function timeTooltip(digits = 3) {
  const number = new Intl.NumberFormat(currentLang(), {maximumFractionDigits: digits});
  const value = p => {
    const v = Array.isArray(p.value) ? p.value[1] : p.value;
    return v === null || v === undefined || Number.isNaN(Number(v)) ? "–" : number.format(Number(v));
  };
  return {trigger: "axis", formatter: params => {
    const list = Array.isArray(params) ? params : [params];
    if (!list.length) return "";
    const head = `<span data-role="tooltip-time">${esc(fmtTime(list[0].axisValue))}</span>`;
    return [head, ...list.map(p => `${p.marker}${esc(p.seriesName)}: <b>${esc(value(p))}</b>`)].join("<br>");
  }};
}

/** Say so on a chart with nothing to draw, instead of leaving an empty frame that looks like a fault. */
export function noData(c, series) {
  const empty = !series.some(s => (s.data || []).some(p => p !== null && p !== undefined
    && !(Array.isArray(p) && (p[1] === null || p[1] === undefined))));
  c.setOption({graphic: empty ? [{type: "text", left: "center", top: "middle", silent: true,
    style: {text: t("chart.no_data"), fontSize: 14, fill: "#8a94a6"}}] : []});
  c.getDom().dataset.empty = empty ? "1" : "0";
}
