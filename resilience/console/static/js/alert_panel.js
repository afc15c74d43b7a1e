// One alert's closed loop: acknowledge, assign, dispatch / on site / disposed / feedback, resolve with a note,
// review, comment, silence for a while; its timeline (who, when) and response times against the targets.
import {api, esc, RESPOND_ROLES} from "./api.js";
import {forecastsHtml} from "./forecast_text.js";
import {currentLang, fmtDuration, fmtTime, t, tEnum} from "./i18n.js";
import {alertExplanation, stepNote} from "./alert_text.js";
import {actorName, localName} from "./messages.js";

const STEPS = ["dispatch", "on_site", "disposed", "feedback"];
const SILENCE_HOURS = [1, 4, 24];
let renders = 0;  // a panel render superseded by a later one (a live update during an action) is dropped

function enabled(action, state) {
  const active = state === "firing" || state === "acknowledged";
  return {ack: state === "firing", assign: active, step: active, resolve: active, review: state === "resolved",
          comment: true, silence: active}[action];
}

function actionsHtml(a) {
  const dis = action => enabled(action, a.state) ? "" : " disabled";
  return `<div class="actions">
      <button class="primary" data-act="ack"${dis("ack")}>${esc(t("act.ack"))}</button>
      <input id="unit" placeholder="${esc(t("act.unit_placeholder"))}" size="12" value="${esc(a.assigned_unit || "")}">
      <button data-act="assign"${dis("assign")}>${esc(t("act.assign"))}</button></div>
    <div class="actions">${STEPS.map(s => `<button data-act="step" data-step="${s}"${dis("step")}>${esc(tEnum("step", s))}</button>`).join("")}</div>
    <textarea id="note" rows="2" style="width:100%" placeholder="${esc(t("act.note_placeholder"))}"></textarea>
    ${a.condition === "active" && enabled("resolve", a.state) ? `<label class="muted"><input type="checkbox"
      id="override"> ${esc(t("act.override"))}</label>` : ""}
    <div class="actions">
      <button data-act="resolve"${dis("resolve")}>${esc(t("act.resolve"))}</button>
      <button data-act="review"${dis("review")}>${esc(t("act.review"))}</button>
      <button data-act="comment">${esc(t("act.comment"))}</button>
      <select id="silence-hours" aria-label="${esc(t("act.silence_for"))}">${SILENCE_HOURS.map(h =>
        `<option value="${h}">${esc(t("unit.hours", {n: h}))}</option>`).join("")}</select>
      <button data-act="silence"${dis("silence")}>${esc(t("act.silence"))}</button></div>
    <p id="act-error" class="error"></p>`;
}

function responseHtml(rows) {
  return `<table><thead><tr><th>${esc(t("resp.measure"))}</th><th>${esc(t("resp.elapsed"))}</th>
    <th>${esc(t("resp.target"))}</th><th></th></tr></thead><tbody>${rows.map(r => `<tr data-response="${r.key}">
    <td>${esc(t(`resp.${r.key}`))}</td><td>${esc(fmtDuration(r.elapsed_s))}</td><td>${esc(fmtDuration(r.target_s))}</td>
    <td>${r.met === null ? "" : r.met ? `<span class="met">${esc(t("resp.met"))}</span>`
      : `<span class="late">${esc(t("resp.late"))}</span>`}</td></tr>`).join("")}</tbody></table>`;
}

function liveHtml(a, live) {
  const rows = (live?.sensors || []).map(s => {
    const now = s.current ? t("alert.now_value", {value: Number(s.current.value).toLocaleString(currentLang()),
      unit: s.current.unit_label || "", age: fmtDuration(s.current.age_s)}) : t("alert.no_recent");
    const num = v => (v === null || v === undefined ? "–" : Number(v).toLocaleString(currentLang()));
    return `<tr data-sensor="${esc(s.sensor_id)}"><td>${esc(s.sensor_id)}</td><td data-role="now">${esc(now)}</td>
      <td>${esc(num(s.onset))}</td><td data-role="peak">${esc(num(s.peak))}</td></tr>`;
  }).join("");
  const end = a.cleared_at ? new Date(a.cleared_at) : new Date(live?.now || Date.now());
  const lasting = t(a.condition === "active" ? "alert.lasting" : "alert.lasted",
    {d: fmtDuration(Math.max(0, (end - new Date(a.onset_at || a.fired_at)) / 1000))});
  const condition = a.condition === "cleared" ? `${t("alert.cleared")} ${fmtTime(a.cleared_at)}` : t("alert.condition_active");
  return `<h3>${esc(t("alert.live_title"))}</h3><p data-role="condition" data-condition="${esc(a.condition)}">
    ${esc(condition)} · ${esc(lasting)}</p>${rows ? `<table><thead><tr><th></th><th>${esc(t("col.now"))}</th>
    <th>${esc(t("alert.onset"))}</th><th>${esc(t("alert.peak"))}</th></tr></thead><tbody>${rows}</tbody></table>` : ""}`;
}

function timelineHtml(steps) {
  return `<ol class="timeline">${steps.map(s => `<li data-step-kind="${esc(s.kind)}">
    <b>${esc(tEnum("event", s.kind))}</b>${s.level ? ` <span class="lvl ${esc(s.level)}">${esc(tEnum("level", s.level))}</span>` : ""}
    ${s.unit ? `<span data-role="unit">${esc(t("alert.unit_named", {unit: s.unit}))}</span>` : ""}
    <span class="muted">${esc(fmtTime(s.ts))} · ${esc(actorName(s.actor))}</span>${stepNote(s) ? `<br>${esc(stepNote(s))}` : ""}</li>`).join("")}</ol>`;
}

async function act(panel, id, alert, button, who) {
  const note = panel.querySelector("#note").value.trim();
  const kind = button.dataset.act;
  const calls = {
    ack: () => api(`/api/v1/alerts/${id}/ack`, {method: "POST", body: {note}}),
    assign: () => api(`/api/v1/alerts/${id}/assign`, {method: "POST", body: {unit: panel.querySelector("#unit").value.trim(), note}}),
    step: () => api(`/api/v1/alerts/${id}/steps`, {method: "POST", body: {step: button.dataset.step, note}}),
    resolve: () => api(`/api/v1/alerts/${id}/resolve`, {method: "POST",
      body: {note, override: Boolean(panel.querySelector("#override")?.checked)}}),
    review: () => api(`/api/v1/alerts/${id}/review`, {method: "POST", body: {note}}),
    comment: () => api(`/api/v1/alerts/${id}/comments`, {method: "POST", body: {note}}),
    silence: () => {
      const hours = Number(panel.querySelector("#silence-hours").value);
      return api("/api/v1/silences", {method: "POST", body: {
        matchers: [{name: "scope", value: alert.scope}, {name: "hazard", value: alert.hazard}],
        ends_at: new Date(Date.now() + hours * 3600e3).toISOString(),
        comment: note || t("act.silence_comment", {id})}});
    },
  };
  if (["resolve", "comment"].includes(kind) && !note) {
    panel.querySelector("#act-error").textContent = t("act.note_required");
    return;
  }
  button.disabled = true;
  try {
    await calls[kind]();
    await renderPanel(panel, id, who, {keepInputs: false});
  } catch (e) {
    panel.querySelector("#act-error").textContent = `${t("act.failed")}: ${e.detail || e.message}`;
    button.disabled = false;
  }
}

/** Draw the alert's panel; a live update keeps what the operator is typing (the note, the unit). */
export async function renderPanel(panel, id, who, {keepInputs = true} = {}) {
  const mine = ++renders;
  let data;
  try { data = await api(`/api/v1/console/alerts/${id}/timeline`); }
  catch (e) { panel.innerHTML = `<p class="error">${esc(t("error.load"))}</p>`; return; }
  if (mine !== renders) return;
  const sameAlert = panel.dataset.alertId === String(id);
  const typed = keepInputs && sameAlert ? {note: panel.querySelector("#note")?.value, unit: panel.querySelector("#unit")?.value}
    : {};
  const a = data.alert;
  const canAct = RESPOND_ROLES.includes(who.role);
  const action = currentLang() === "zh-CN" ? a.action_zh : a.action_en;
  panel.dataset.alertId = String(id);
  panel.dataset.state = a.state;
  panel.innerHTML = `<h2><span class="lvl ${esc(a.level)}">${esc(tEnum("level", a.level))}</span>
      ${esc(tEnum("hazard", a.hazard))} · <span data-role="panel-state">${esc(tEnum("state", a.state))}</span></h2>
    <p>${a.asset_id ? `<a href="/console/asset?id=${encodeURIComponent(a.asset_id)}">${esc(localName(a, "asset_name") || a.asset_id)}</a>` : ""}
      ${esc(localName(a, "district_name") || a.district_id || "")}</p>
    <p class="muted" data-role="alert-explanation">${esc(alertExplanation(a))}</p>
    ${action ? `<p><b>${esc(t("alert.first_action"))}:</b> ${esc(action)}</p>` : ""}
    <p class="muted">${esc(t("alert.assigned"))}: ${esc(a.assigned_unit || "–")} · ${esc(t("col.fired"))}: ${esc(fmtTime(a.fired_at))}</p>
    ${liveHtml(a, data.live)}${forecastsHtml(data.forecasts)}
    ${canAct ? actionsHtml(a) : `<p class="muted" data-role="read-only">${esc(t("alert.read_only"))}</p>`}
    <h3>${esc(t("resp.title"))}</h3>${responseHtml(data.response)}
    <h3>${esc(t("alert.timeline"))}</h3>${timelineHtml(data.steps)}`;
  if (typed.note) panel.querySelector("#note").value = typed.note;
  if (typed.unit) panel.querySelector("#unit").value = typed.unit;
  panel.querySelectorAll("button[data-act]").forEach(b => b.addEventListener("click", () => act(panel, id, a, b, who)));
}
