// Messages {code, params} in the viewer's language (resilience/messages.py): the code is the catalogue key,
// a parameter that is itself a message is said first, a list of messages is said and joined.
import {fmtTime, has, t, tEnum} from "./i18n.js";

// parameters that are enumeration values: the tEnum kind each one is a value of (resilience.messages.ENUM_PARAMS)
export const ENUM = {level: "level", hazard: "hazard", kind: "kind", sensor_kind: "sensor", status: "health",
                     rule: "rule", facility: "facility", verb: "verb", side: "side", trend: "trend"};
const TIME = new Set(["since"]);  // ISO timestamps, shown in the viewer's zone

export function isMessage(v) { return Boolean(v && typeof v === "object" && typeof v.code === "string"); }

/** The parameters of a message, each said in the viewer's language; nested messages through sayNested, a
 * list joined by the message's own separator (key "<code>.sep") or the catalogue's. */
export function sayParams(params, sayNested, code = "") {
  const vars = {};
  const sep = has(`${code}.sep`) ? t(`${code}.sep`) : t("msg.list_sep");
  for (const [k, v] of Object.entries(params || {})) {
    if (isMessage(v)) vars[k] = sayNested(v);
    else if (Array.isArray(v)) vars[k] = v.filter(isMessage).map(sayNested).join(sep);
    else if (v === null || v === undefined) vars[k] = "";
    else if (ENUM[k]) vars[k] = tEnum(ENUM[k], v);
    else if (TIME.has(k)) vars[k] = fmtTime(v);
    else vars[k] = String(v);
  }
  return vars;
}

/** The message with its live facts: every (nested) message that says when its condition began (``since``)
 * and for how long (``minutes``, as long as it had lasted when the message was made) counts the minutes
 * up to now instead. Only for conditions that still hold; the onset (``since``, the value) stays. */
export function withLiveDuration(m, now = Date.now()) {
  if (!isMessage(m)) return m;
  const params = {};
  for (const [k, v] of Object.entries(m.params || {})) {
    params[k] = isMessage(v) ? withLiveDuration(v, now) : Array.isArray(v) ? v.map(x => withLiveDuration(x, now)) : v;
  }
  const began = Date.parse(params.since);
  if (params.minutes !== undefined && Number.isFinite(began)) {
    params.minutes = String(Math.max(Number(params.minutes) || 0, Math.floor((now - began) / 60_000)));
  }
  return {...m, params};
}

/** An entity's name {zh, en} (resilience.core.messages.name) in the viewer's language, else the other. */
export function sayName(names) {
  return names[t("msg.name_lang")] || names.en || names.zh || "";
}

/** A name in the viewer's language from an object's <key>_zh / <key>_en (migration 0020), else <key>. */
export function localName(obj, key = "name") {
  if (!obj) return "";
  const fallback = obj[key] || "";
  const zh = obj[`${key}_zh`], en = obj[`${key}_en`];
  return sayName({zh: zh || en || fallback, en: en || zh || fallback});
}

/** A registry row's name in the viewer's language, else its id. */
export function rowName(row) { return localName(row) || row?.id || ""; }

/** Who did something: the platform ("system") and the alert rules' receivers have catalogue names
 * (actor.<name>, as resilience.core.translations.actor_name); a person's or a key's name is shown as it is. */
export function actorName(actor) {
  const key = `actor.${actor || "system"}`;
  return has(key) ? t(key) : (actor || "");
}

/** One message, said in the viewer's language. */
export function say(m) {
  if (m.code === "msg.name") return sayName(m.params || {});
  return t(m.code, sayParams(m.params, say, m.code));
}
