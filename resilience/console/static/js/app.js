// The console's entry point: who is logged in, the language, the header, then the view the path names.
import {ALERT_STREAM, api, esc, HISTORY_ROLES, openStream, prefetch, toLogin, wallSummaryPath} from "./api.js";
import {applyI18n, loadMessages, switchLang, t, tEnum} from "./i18n.js";

const VIEWS = {
  "/console/": () => import("./alerts.js"), "/console/map": () => import("./map.js"),
  "/console/spectrum": () => import("./spectrum.js"), "/console/asset": () => import("./asset.js"),
  "/console/engineer": () => import("./engineer.js"), "/console/reports": () => import("./reports.js"),
  "/console/wall": () => import("./wall.js"),
};
// the data a view needs first, fetched while the view's code loads rather than after it
const PREFETCH = {"/console/map": ["/api/v1/console/map"], "/console/wall": ["/api/v1/console/wall/map", wallSummaryPath()]};

// ECharts (1.1 MB) is found only three imports deep (view -> charts.js -> ECharts): every view but the alert
// list draws with it, so start fetching and compiling it now, beside the view's own code
const CHART_MODULES = ["/console/static/js/charts.js", "/console/static/vendor/echarts.esm.min.js"];

function preloadModules(hrefs) {
  for (const href of hrefs) {
    const link = Object.assign(document.createElement("link"), {rel: "modulepreload", href});
    document.head.appendChild(link);
  }
}

async function boot() {
  const path = location.pathname;
  const load = VIEWS[path] || VIEWS["/console/"];
  if (load !== VIEWS["/console/"]) preloadModules(CHART_MODULES);
  const loading = load();  // starts fetching the view's modules (and ECharts) now, beside the catalogue and session
  loading.catch(() => null);
  (PREFETCH[path] || []).forEach(prefetch);
  if (load === VIEWS["/console/"] || path === "/console/wall") openStream(ALERT_STREAM);
  const session = api("/api/v1/session");
  session.catch(() => null);
  await loadMessages();
  applyI18n();
  let who;
  try { who = await session; } catch (e) { return; }
  document.getElementById("who").textContent = `${who.name} · ${tEnum("role", who.role)}`;
  document.getElementById("lang").addEventListener("click", switchLang);
  document.getElementById("logout").addEventListener("click", async () => {
    await api("/api/v1/session", {method: "DELETE"}).catch(() => null);
    toLogin();
  });
  document.querySelectorAll("#nav a").forEach(a => {
    a.classList.toggle("current", a.getAttribute("href") === path);
    a.hidden = a.dataset.needs === "history" && !HISTORY_ROLES.includes(who.role);  // the API would refuse anyway
  });
  const view = document.getElementById("view");
  try {
    const mod = await loading;
    performance.mark("view-code");
    await mod.render(view, who);
  } catch (e) {
    const why = e.status === 403 ? t("error.forbidden") : `${t("error.load")}: ${e.message}`;
    view.innerHTML = `<p class="error" data-role="load-error">${esc(why)}</p>`;
  }
  document.body.dataset.ready = "1";
}

boot();
