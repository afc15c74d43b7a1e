// Live alerts: a snapshot then every change over SSE (no polling), most severe then newest first, counts,
// filters, and a sound and a flash for a new red alert until someone acknowledges it.
import {ALERT_STREAM, api, esc, LEVEL_RANK, LEVELS, listen} from "./api.js";
import {currentLang, fmtDuration, fmtTime, t, tEnum} from "./i18n.js";
import {renderPanel} from "./alert_panel.js";
import {alertExplanation} from "./alert_text.js";
import {localName} from "./messages.js";

const assetName = a => localName(a, "asset_name");  // the reader's language, else the other, else the id
const districtName = a => localName(a, "district_name");

const STATES = ["firing", "acknowledged", "resolved", "closed"];
const alerts = new Map();
const unacknowledgedRed = new Set();
const filters = {district: "", hazard: "", level: "", state: "active"};
let selected = null;
let who = null;
let scheduled = false;
const probe = window.__console = {beeps: 0, events: 0, lastEventAt: 0, renderedAt: 0};
const REBEEP_MS = 15_000;  // an unacknowledged red keeps sounding, so a busy desk still hears it
const VALUES_MS = 5_000;  // the values an alert shows are read again this often: never the onset's alone
let values = {data: {}, now: null, readAt: 0};

function beep() {
  probe.beeps += 1;
  try {
    const ctx = (probe.audio ??= new AudioContext());
    const osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.frequency.value = 880; gain.gain.value = 0.15;
    osc.connect(gain).connect(ctx.destination);
    osc.start(); osc.stop(ctx.currentTime + 0.4);
  } catch (e) { /* no audio device: the flash still shows */ }
}

function isRedFiring(a) { return a.level === "red" && a.state === "firing"; }

function upsert(a, fresh) {
  const old = alerts.get(a.id);
  if (old && old.row_version > a.row_version) return;
  alerts.set(a.id, a);
  if (isRedFiring(a)) {
    // every unacknowledged red counts, those waiting at login included; only a new one sounds at once
    const isNew = !unacknowledgedRed.has(a.id);
    unacknowledgedRed.add(a.id);
    if (fresh && isNew && !(old && isRedFiring(old))) beep();
  } else {
    unacknowledgedRed.delete(a.id);
  }
}

function nowCell(a) {
  const live = values.data[String(a.id)];
  if (!live) return "";
  const shown = live.sensors.filter(s => s.value !== null);
  const since = (performance.now() - values.readAt) / 1000;
  const text = shown.length ? shown.map(s => t("alert.now_value", {value: Number(s.value).toLocaleString(currentLang()),
    unit: s.unit_label || "", age: fmtDuration(s.age_s + since)})).join("; ")
    : live.sensors.length ? t("alert.no_recent") : "";  // a district's incident has no sensor of its own
  const lasting = t(live.condition === "active" ? "alert.lasting" : "alert.lasted", {d: fmtDuration(live.active_for_s
    + (live.condition === "active" ? since : 0))});
  return `<span data-role="now">${esc(text)}</span><br><span class="muted" data-role="lasting">${esc(lasting)}</span>`;
}

function stateCell(a) {
  const parts = [tEnum("state", a.state)];
  if (a.condition === "cleared") parts.push(t("alert.cleared"));
  else if (!["firing", "acknowledged"].includes(a.state)) parts.push(t("alert.condition_active"));
  if (a.fire_count > 1) parts.push(t("alert.reopened", {n: a.fire_count}));
  if (a.silenced) parts.push(t("alert.silenced"));
  return `<span data-condition="${esc(a.condition || "")}">${esc(parts.join(" · "))}</span>`;
}

async function readValues(root) {
  if (document.hidden) return;
  try {
    const body = await api("/api/v1/console/alerts/values");
    values = {data: body.data, now: body.now, readAt: performance.now()};
    schedule(root);
    const open = selected !== null && values.data[String(selected)];
    for (const s of open ? open.sensors : []) {  // the open panel's values follow too
      const cell = root.querySelector(`#panel tr[data-sensor="${CSS.escape(s.sensor_id)}"] [data-role="now"]`);
      if (cell && s.value !== null) cell.textContent = t("alert.now_value", {value: Number(s.value).toLocaleString(currentLang()),
        unit: s.unit_label || "", age: fmtDuration(s.age_s)});
    }
  } catch (e) { /* the list keeps its last values; the live indicator shows the stream's own state */ }
}

// One incident, one row: an asset alert grouped under its district's incident alert is listed as one of that
// row's members, and a district alert held back because only one asset is affected (inhibited: not district
// wide) is not a second row to work; the asset's own alert speaks for the incident.
const ACTIVE = ["firing", "acknowledged"];
let groups = {activeParents: new Set(), membersOf: new Map()};  // indexGroups(), once per draw

// Parents and members indexed in one pass over the alerts, so a draw stays linear in the number of alerts
// (a per-row scan made a storm of thousands of alerts quadratic).
function indexGroups() {
  const activeParents = new Set(), membersOf = new Map();
  for (const a of alerts.values()) {
    if (ACTIVE.includes(a.state)) activeParents.add(a.fingerprint);
    if (a.grouped_under) {
      const list = membersOf.get(a.grouped_under);
      if (list) list.push(a); else membersOf.set(a.grouped_under, [a]);
    }
  }
  groups = {activeParents, membersOf};
}

function isMember(a) {
  return Boolean(a.grouped_under) && groups.activeParents.has(a.grouped_under);
}

function isHeldDistrict(a) {
  return a.scope.startsWith("district:") && a.inhibited && ACTIVE.includes(a.state);
}

function members(a) {
  return (groups.membersOf.get(a.fingerprint) || []).filter(m => m.id !== a.id);
}

function visible() {
  return [...alerts.values()].filter(a => !isMember(a) && !isHeldDistrict(a)
    && (!filters.district || a.district_id === filters.district) && (!filters.hazard || a.hazard === filters.hazard)
    && (!filters.level || a.level === filters.level)
    && (!filters.state || (filters.state === "active" ? ["firing", "acknowledged"].includes(a.state)
                                                     : a.state === filters.state)))
    .sort((x, y) => (LEVEL_RANK[y.level] - LEVEL_RANK[x.level]) || (y.fired_at > x.fired_at ? 1 : -1));
}

function counts() {
  const by = {level: {}, state: {}};
  for (const a of [...alerts.values()].filter(x => !isMember(x) && !isHeldDistrict(x))) {
    by.level[a.level] = (by.level[a.level] || 0) + 1;
    by.state[a.state] = (by.state[a.state] || 0) + 1;
  }
  const chip = (kind, v) => `<span class="chip" data-count="${kind}-${v}">${esc(tEnum(kind, v))}: `
    + `<b>${by[kind][v] || 0}</b></span>`;
  return LEVELS.filter(l => l !== "none").map(l => chip("level", l)).join("")
    + STATES.map(s => chip("state", s)).join("");
}

function options(values, label, current) {
  return `<option value="">${esc(label)}</option>` + [...values].sort().map(([v, text]) =>
    `<option value="${esc(v)}"${v === current ? " selected" : ""}>${esc(text)}</option>`).join("");
}

function renderFilters(root) {
  const districts = new Map(), hazards = new Map();
  for (const a of alerts.values()) {
    if (a.district_id) districts.set(a.district_id, districtName(a) || a.district_id);
    hazards.set(a.hazard, tEnum("hazard", a.hazard));
  }
  root.querySelector("#f-district").innerHTML = options(districts, t("filter.all_districts"), filters.district);
  root.querySelector("#f-hazard").innerHTML = options(hazards, t("filter.all_hazards"), filters.hazard);
}

function row(a) {
  const flash = unacknowledgedRed.has(a.id) ? " flash" : "";
  const sel = a.id === selected ? " selected" : "";
  const where = assetName(a) || a.asset_id || districtName(a) || a.scope;
  const group = members(a);
  const memberList = group.length ? `<br><span class="muted" data-role="members">${esc(t("alert.members",
    {n: group.length}))}: ${group.map(m => m.asset_id ? `<a href="/console/asset?id=${encodeURIComponent(m.asset_id)}">`
    + `${esc(assetName(m) || m.asset_id)}</a>` : esc(m.scope)).join(" · ")}</span>` : "";
  return `<tr class="row${flash}${sel}" data-alert-id="${a.id}" data-level="${esc(a.level)}" data-state="${esc(a.state)}">
    <td><span class="lvl ${esc(a.level)}">${esc(tEnum("level", a.level))}</span></td>
    <td><b>${esc(tEnum("hazard", a.hazard))}</b><br><span class="muted">${esc(where)}</span>${memberList}</td>
    <td>${esc(districtName(a) || a.district_id || "")}</td>
    <td class="muted">${esc(alertExplanation(a))}</td>
    <td>${nowCell(a)}</td>
    <td data-role="state">${stateCell(a)}</td>
    <td class="muted">${esc(fmtTime(a.fired_at, "short"))}</td></tr>`;
}

function draw(root) {
  scheduled = false;
  indexGroups();
  root.querySelector("#counts").innerHTML = counts();
  renderFilters(root);
  const list = visible();
  root.querySelector("#alert-rows").innerHTML = list.length ? list.map(row).join("")
    : `<tr><td colspan="7" class="muted">${esc(t("alerts.none"))}</td></tr>`;
  root.querySelector("#shown").textContent = t("alerts.shown", {n: list.length, total: alerts.size});
  const banner = document.getElementById("banner");
  const waiting = [...unacknowledgedRed].filter(id => alerts.has(id) && !isMember(alerts.get(id))
    && !isHeldDistrict(alerts.get(id))).length;  // one per incident, as the rows
  banner.hidden = waiting === 0;
  banner.textContent = t("alerts.new_red", {n: waiting});
  probe.renderedAt = performance.now();
}

function schedule(root) {
  if (!scheduled) { scheduled = true; requestAnimationFrame(() => draw(root)); }
}

function connect(root) {
  const live = document.getElementById("live");
  performance.mark("alerts-connect");
  listen(ALERT_STREAM.url, {
    open: () => { live.dataset.state = "open"; live.textContent = t("live.open"); },
    error: () => { live.dataset.state = "error"; live.textContent = t("live.error"); },
    snapshot: ev => {
      performance.mark("alerts-snapshot");  // for `resilience bench console`
      const snap = JSON.parse(ev.data);
      alerts.clear();
      snap.alerts.forEach(a => upsert(a, false));
      if (unacknowledgedRed.size) beep();  // reds waiting at login: the banner shows them, and it sounds
      schedule(root);
    },
    alert: ev => {
      const change = JSON.parse(ev.data);
      probe.events += 1; probe.lastEventAt = performance.now();
      upsert(change.alert, true);
      schedule(root);
      if (change.alert.id === selected) openPanel(root, selected);
    },
  });
}

function openPanel(root, id) {
  selected = id;
  renderPanel(root.querySelector("#panel"), id, who);
  schedule(root);
}

export async function render(root, caller) {
  who = caller;
  root.innerHTML = `<div class="cols"><section class="card">
    <h2>${esc(t("alerts.title"))} <span id="shown" class="muted"></span></h2>
    <div id="counts" class="chips"></div>
    <div class="filters">
      <select id="f-district" aria-label="${esc(t("filter.district"))}"></select>
      <select id="f-hazard" aria-label="${esc(t("filter.hazard"))}"></select>
      <select id="f-level" aria-label="${esc(t("filter.level"))}">
        <option value="">${esc(t("filter.all_levels"))}</option>
        ${LEVELS.filter(l => l !== "none").map(l => `<option value="${l}">${esc(tEnum("level", l))}</option>`).join("")}
      </select>
      <select id="f-state" aria-label="${esc(t("filter.state"))}">
        <option value="active" selected>${esc(t("filter.active"))}</option>
        <option value="">${esc(t("filter.all_states"))}</option>
        ${STATES.map(s => `<option value="${s}">${esc(tEnum("state", s))}</option>`).join("")}
      </select>
    </div>
    <table><thead><tr><th>${esc(t("col.level"))}</th><th>${esc(t("col.what"))}</th><th>${esc(t("col.district"))}</th>
      <th>${esc(t("col.explanation"))}</th><th>${esc(t("col.now"))}</th><th>${esc(t("col.state"))}</th>
      <th>${esc(t("col.fired"))}</th></tr></thead>
      <tbody id="alert-rows"><tr><td colspan="7" class="muted">${esc(t("common.loading"))}</td></tr></tbody></table>
    </section><section class="card" id="panel"><p class="muted">${esc(t("alerts.pick"))}</p></section></div>`;
  for (const [id, key] of [["f-district", "district"], ["f-hazard", "hazard"], ["f-level", "level"], ["f-state", "state"]]) {
    root.querySelector(`#${id}`).addEventListener("change", e => { filters[key] = e.target.value; schedule(root); });
  }
  root.querySelector("#alert-rows").addEventListener("click", e => {
    const tr = e.target.closest("tr[data-alert-id]");
    if (tr) openPanel(root, Number(tr.dataset.alertId));
  });
  connect(root);
  const asked = Number(new URLSearchParams(location.search).get("alert"));  // opened from the wall
  if (Number.isInteger(asked) && asked > 0) openPanel(root, asked);
  readValues(root);
  setInterval(() => readValues(root), VALUES_MS);
  setInterval(() => { if (unacknowledgedRed.size) beep(); }, REBEEP_MS);
}
