// Risk explanations in the viewer's language, from the codes and parameters the risk model stores with each
// factor (resilience/risk/explain.py): the level and grades, then the reasons that decided them.
import {t, tEnum} from "./i18n.js";

// parameters that are enumeration values (resilience.risk.explain.ENUM_PARAMS)
const ENUM = {level: v => tEnum("level", v), hazard: v => tEnum("hazard", v), kind: v => tEnum("kind", v),
              sensor_kind: v => tEnum("sensor", v), status: v => tEnum("health", v), rule: v => tEnum("rule", v),
              facility: v => tEnum("facility", v)};

/** One message {code, params}; a parameter that is itself a message is rendered first. */
export function riskMessage(m) {
  const vars = {};
  for (const [k, v] of Object.entries(m.params || {})) {
    if (v && typeof v === "object" && v.code) vars[k] = riskMessage(v);
    else vars[k] = ENUM[k] && v !== null && v !== undefined ? ENUM[k](v) : String(v ?? "");
  }
  return t(`risk.${m.code}`, vars);
}

/** The reasons, chosen and ordered as RiskModel._explain does: the four strongest likelihood factors, then
 * what raised the level, then consequence (criticality last); only likelihood and consequence at "none". */
function reasons(r) {
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
  const head = riskMessage({code: "head", params: {hazard: r.hazard, asset: asset.name, kind: asset.kind,
                                                   level: r.level, likelihood: r.likelihood,
                                                   consequence: r.consequence}});
  const why = reasons(r).map(riskMessage);
  return why.length ? t("risk.explained", {head, reasons: why.join(t("risk.sep"))}) : t("risk.plain", {head});
}
