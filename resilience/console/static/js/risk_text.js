// Risk explanations in the viewer's language, from the codes and parameters the risk model stores with each
// factor (resilience/risk/explain.py): the level and grades, then the reasons that decided them.
import {t} from "./i18n.js";
import {rowName, say, sayParams, withLiveDuration} from "./messages.js";

/** One risk message {code, params} (its codes are catalogue keys under "risk."); nested ones said first. */
export function riskMessage(m) {
  if (m.code.startsWith("msg.")) return say(m);  // a name in both languages, free text: the catalogue's own
  return t(`risk.${m.code}`, sayParams(m.params, riskMessage, `risk.${m.code}`));
}

/** The reasons, chosen and ordered as RiskModel._explain does: the four strongest likelihood factors, then
 * what raised the level, then consequence (criticality last); only likelihood and consequence at "none". */
function riskReasons(r) {
  const fs = r.factors || [];
  const lik = fs.filter(f => f.side === "likelihood" && f.name !== "vulnerability")
    .sort((a, b) => b.weight - a.weight).slice(0, 4);
  const con = fs.filter(f => f.side === "consequence" && f.name !== "criticality");
  if (r.level === "none") return [...lik, ...con];
  return [...lik, ...fs.filter(f => f.side === "level"), ...con, ...fs.filter(f => f.name === "criticality")];
}

/** A risk row's explanation; rows stored before factors carried codes keep their English sentence. */
export function riskExplanation(r, asset) {
  const fs = r.factors || [];
  if (!fs.length || fs.some(f => !f.code)) return r.explanation || "";
  const head = riskMessage({code: "head", params: {hazard: r.hazard, asset: rowName(asset), kind: asset.kind,
                                                   level: r.level, likelihood: r.likelihood,
                                                   consequence: r.consequence}});
  // the current risk: its open anomalies' durations are counted up to now (the onset time stays in the text)
  const why = riskReasons(r).map(f => riskMessage(withLiveDuration({code: f.code, params: f.params})));  // resilience.risk.factors.reasons picks the same
  return why.length ? t("risk.explained", {head, reasons: why.join(t("risk.explained.sep"))}) : t("risk.plain", {head});
}
