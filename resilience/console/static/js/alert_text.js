// An alert's explanation in the viewer's language, rebuilt as the alert service builds its English one
// (alerts/lifecycle.py _fold_evidence): each rule's latest explanation, most severe first, without repeats.
import {LEVEL_RANK} from "./api.js";
import {t} from "./i18n.js";
import {say} from "./messages.js";
import {riskMessage, riskReasons} from "./risk_text.js";

function ruleText(e) {
  if (e.message) return say(e.message);
  const fs = e.evidence?.factors || [];
  if (e.source === "risk" && fs.length && fs.every(f => f.code)) {  // a risk change: the reasons of its level
    return riskReasons({level: e.level, factors: fs}).map(riskMessage).join(t("risk.sep"));
  }
  return e.explanation || "";  // stored before explanations carried codes
}

/** The alert's explanation; an alert stored before its evidence listed rules keeps its English sentence. */
export function alertExplanation(a) {
  const ev = a.evidence || {}, byRule = ev.by_rule || {};
  const rules = (ev.rules || []).filter(r => byRule[r]);
  const ranked = [...rules].sort((x, y) => (LEVEL_RANK[byRule[y].level] || 0) - (LEVEL_RANK[byRule[x].level] || 0));
  const texts = [];
  for (const r of ranked) {
    const text = ruleText(byRule[r]);
    if (text && !texts.includes(text)) texts.push(text);
  }
  return texts.length ? texts.join(" | ") : a.explanation || "";
}

/** A timeline step's note: the system's own notes from their codes, people's notes as they wrote them. */
export function stepNote(s) {
  return s.message ? say(s.message) : s.note || "";
}
