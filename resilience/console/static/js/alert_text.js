// An alert's explanation in the viewer's language, rebuilt as the alert service builds its English one
// (alerts/explain.py rules_explanation): each rule's latest explanation, most severe first, without repeats.
import {LEVEL_RANK} from "./api.js";
import {say, withLiveDuration} from "./messages.js";

// a rule's latest explanation: its source's message (a detector's, a risk change's, the alert service's own);
// a source that said none (a platform stall) keeps its English sentence
function ruleText(e, live) {
  return e.message ? say(live ? withLiveDuration(e.message) : e.message) : e.explanation || "";
}

/** The alert's explanation; an alert stored before its evidence listed rules keeps its English sentence. */
export function alertExplanation(a) {
  const ev = a.evidence || {}, byRule = ev.by_rule || {};
  const rules = (ev.rules || []).filter(r => byRule[r]);
  const ranked = [...rules].sort((x, y) => (LEVEL_RANK[byRule[y].level] || 0) - (LEVEL_RANK[byRule[x].level] || 0));
  const texts = [];
  // while the condition holds the durations it names run on (the onset time and value stay as they were)
  const live = a.condition === "active" && ["firing", "acknowledged"].includes(a.state);
  for (const r of ranked) {
    const text = ruleText(byRule[r], live);
    if (text && !texts.includes(text)) texts.push(text);
  }
  return texts.length ? texts.join(" | ") : a.explanation || "";
}

/** A timeline step's note: the system's own notes from their codes, people's notes as they wrote them. */
export function stepNote(s) {
  return s.message ? say(s.message) : s.note || "";
}
