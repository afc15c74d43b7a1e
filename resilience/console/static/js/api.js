// Calls to the platform API with the session cookie; a lost session goes back to the login page.
export class ApiError extends Error {
  constructor(status, detail) { super(`${status} ${detail}`); this.status = status; this.detail = detail; }
}

export function toLogin() {
  location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

const early = new Map();  // path -> the promise of a GET started before its view's code had loaded

/** Start the view's main GET now, while its code (ECharts) still loads; the view's own api(path) takes it. */
export function prefetch(path) {
  const p = api(path);
  p.catch(() => null);  // a failure is reported to whoever takes it, not as an unhandled rejection here
  early.set(path, p);
}

/** The wall's counts for the viewer's own day (app.js fetches them early, wall.js reads them again). */
export function wallSummaryPath() {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "Asia/Shanghai";
  return `/api/v1/console/wall/summary?tz=${encodeURIComponent(tz)}`;
}

/** The live alert stream and the event types the alert list handles (app.js opens it early, alerts.js listens). */
export const ALERT_STREAM = {url: "/api/v1/console/alerts/stream", types: ["snapshot", "alert"]};
const streams = new Map();  // url -> an EventSource opened early, with the events it received before a view listened

/** Open an SSE stream now, while the view's code loads, keeping its events until the view listens. */
export function openStream({url, types}) {
  const source = new EventSource(url);
  const held = [];
  const keep = ev => held.push(ev);
  types.forEach(type => source.addEventListener(type, keep));
  streams.set(url, {source, held, keep, types});
}

/** The stream at url (the early one if there is one) with handlers by event type; held events go first. */
export function listen(url, handlers) {
  const early = streams.get(url);
  streams.delete(url);
  const source = early ? early.source : new EventSource(url);
  for (const [type, fn] of Object.entries(handlers)) source.addEventListener(type, fn);
  if (early) {
    early.types.forEach(type => source.removeEventListener(type, early.keep));
    early.held.forEach(ev => handlers[ev.type]?.(ev));
    if (source.readyState === EventSource.OPEN) handlers.open?.(new Event("open"));
  }
  return source;
}

export async function api(path, {method = "GET", body, accept = "application/json"} = {}) {
  if (method === "GET" && accept === "application/json" && early.has(path)) {
    const p = early.get(path);
    early.delete(path);
    return p;
  }
  const headers = {Accept: accept};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {method, headers, credentials: "same-origin",
                               body: body === undefined ? undefined : JSON.stringify(body)});
  if (r.status === 401) { toLogin(); throw new ApiError(401, "login required"); }
  if (!r.ok) {
    let detail = r.statusText;
    try { const b = await r.json(); detail = typeof b.detail === "string" ? b.detail : JSON.stringify(b.detail); }
    catch (e) { /* not JSON */ }
    throw new ApiError(r.status, detail);
  }
  if (accept === "text/csv") return r.blob();
  return r.status === 204 ? null : r.json();
}

export const esc = s => String(s ?? "").replace(/[&<>"']/g, c => (
  {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

export const LEVELS = ["red", "orange", "yellow", "blue", "none"];
export const LEVEL_RANK = {none: 0, blue: 1, yellow: 2, orange: 3, red: 4};
export const LEVEL_COLOUR = {red: "#d62728", orange: "#ff7f0e", yellow: "#e6c200", blue: "#1f77b4", none: "#e8ebef"};
export const RESPOND_ROLES = ["admin", "operator"];
export const HISTORY_ROLES = ["admin", "operator", "engineer"];
