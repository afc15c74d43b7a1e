// ECharts (vendored from npm by `make console`) and the shared level scale.
import * as echarts from "/console/static/vendor/echarts.esm.min.js";
import {LEVEL_COLOUR, LEVEL_RANK} from "./api.js";

export {echarts};
window.__echarts = echarts;  // for the browser tests and a console user's own diagnostics
export const LEVEL_ORDER = ["none", "blue", "yellow", "orange", "red"];

export function chart(el) {
  const c = echarts.init(el, null, {renderer: "canvas"});
  window.addEventListener("resize", () => c.resize());
  return c;
}

/** A piecewise visual map from level rank (0..4) to the level colours, labelled in the viewer's language. */
export function levelVisualMap(label, extra = {}) {
  return {type: "piecewise", dimension: 2, orient: "horizontal", left: "center", bottom: 0,
          pieces: LEVEL_ORDER.map(l => ({value: LEVEL_RANK[l], label: label(l), color: LEVEL_COLOUR[l]})), ...extra};
}
