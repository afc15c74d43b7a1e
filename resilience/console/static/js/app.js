// The console's entry point: who is logged in, the language, the header, then the view the path names.
import {api, esc, HISTORY_ROLES, toLogin} from "./api.js";
import {applyI18n, loadMessages, switchLang, t, tEnum} from "./i18n.js";

const VIEWS = {
  "/console/": () => import("./alerts.js"), "/console/map": () => import("./map.js"),
  "/console/spectrum": () => import("./spectrum.js"), "/console/asset": () => import("./asset.js"),
  "/console/engineer": () => import("./engineer.js"), "/console/reports": () => import("./reports.js"),
};

async function boot() {
  await loadMessages();
  applyI18n();
  let who;
  try { who = await api("/api/v1/session"); } catch (e) { return; }
  document.getElementById("who").textContent = `${who.name} · ${tEnum("role", who.role)}`;
  document.getElementById("lang").addEventListener("click", switchLang);
  document.getElementById("logout").addEventListener("click", async () => {
    await api("/api/v1/session", {method: "DELETE"}).catch(() => null);
    toLogin();
  });
  const path = location.pathname;
  document.querySelectorAll("#nav a").forEach(a => {
    a.classList.toggle("current", a.getAttribute("href") === path);
    a.hidden = a.dataset.needs === "history" && !HISTORY_ROLES.includes(who.role);  // the API would refuse anyway
  });
  const view = document.getElementById("view");
  const load = VIEWS[path] || VIEWS["/console/"];
  try {
    const mod = await load();
    await mod.render(view, who);
  } catch (e) {
    const why = e.status === 403 ? t("error.forbidden") : `${t("error.load")}: ${e.message}`;
    view.innerHTML = `<p class="error" data-role="load-error">${esc(why)}</p>`;
  }
  document.body.dataset.ready = "1";
}

boot();
