// Warning before the limit: the projections in force for an asset or an alert, as the API gives them now
// (each with its time; the minutes left are as of the request).
import {esc} from "./api.js";
import {fmtTime, t, tEnum} from "./i18n.js";
import {say} from "./messages.js";

/** A list of the projections in force, or nothing when there are none. */
export function forecastsHtml(forecasts) {
  if (!forecasts || !forecasts.length) return "";
  const rows = forecasts.map(f => `<li data-role="forecast">${esc(tEnum("sensor", f.sensor_kind))} ${esc(f.sensor_id)}:
    <b>${esc(f.message ? say(f.message) : "")}</b>
    <span class="muted">${esc(t("forecast.as_of"))} ${esc(fmtTime(f.ts))}${f.overdue ? ` · ${esc(t("forecast.overdue"))}` : ""}</span></li>`);
  return `<h3>${esc(t("forecast.title"))}</h3><ul class="forecasts">${rows.join("")}</ul>`;
}
