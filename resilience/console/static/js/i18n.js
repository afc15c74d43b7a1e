// Message catalogues (zh-CN by default, English on a switch remembered in localStorage) and locale formats.
// Every visible string comes from a catalogue: t(key) for code, data-i18n attributes for the page shell.
const STORE_KEY = "console.lang";
export const LANGS = ["zh-CN", "en"];
let lang = "zh-CN";
let messages = {};
const missing = new Set();
window.__i18nMissing = missing;

export function currentLang() { return lang; }

export async function loadMessages() {
  const saved = localStorage.getItem(STORE_KEY);
  lang = LANGS.includes(saved) ? saved : "zh-CN";
  const r = await fetch(`/console/static/i18n/messages.${lang}.json`, {cache: "no-cache"});
  messages = await r.json();
  document.documentElement.lang = lang;
}

export function switchLang() {
  localStorage.setItem(STORE_KEY, lang === "zh-CN" ? "en" : "zh-CN");
  location.reload();
}

/** The message for key, with {name} placeholders filled; a missing key is recorded and shown as itself. */
export function t(key, vars = {}) {
  let s = messages[key];
  if (s === undefined) { missing.add(key); return key; }
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

/** Whether the catalogue has key (for optional entries, such as a list's own separator). */
export function has(key) { return key in messages; }

/** The values of an enumeration the catalogue names (``hazard`` -> every hazard code), for dropdowns. */
export function enumValues(kind) {
  return Object.keys(messages).filter(k => k.startsWith(`${kind}.`)).map(k => k.slice(kind.length + 1));
}

/** A translated enumeration value (level, state, hazard, asset or sensor kind, step); unknown values as is. */
export function tEnum(kind, value) {
  if (value === null || value === undefined || value === "") return "";
  const key = `${kind}.${value}`;
  if (key in messages) return messages[key];
  missing.add(key);  // a value the catalogues do not know yet: shown as is, and the browser tests fail on it
  return String(value);
}

export function applyI18n(root = document) {
  root.querySelectorAll("[data-i18n]").forEach(el => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach(el => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  root.querySelectorAll("[data-i18n-title]").forEach(el => { el.title = t(el.dataset.i18nTitle); });
}

const STYLES = {
  short: {month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false},
  clock: {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false},
  hour: {hour: "2-digit", minute: "2-digit", hour12: false},
  long: {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
         hour12: false, timeZoneName: "short"},
};
const formats = {};
function formatter(style) {
  formats[lang + style] ??= new Intl.DateTimeFormat(lang, STYLES[style] || STYLES.long);
  return formats[lang + style];
}

/** A time in the viewer's own time zone and language. */
export function fmtTime(iso, style = "long") {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : formatter(style).format(d);
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return t("unit.seconds", {n: s});
  if (s < 3600) return t("unit.minutes", {n: Math.round(s / 60)});
  return t("unit.hours", {n: (s / 3600).toFixed(1)});
}
