"""The operations dashboard at ``/``: one self-contained page over the public API (no build step, no CDN).

It shows what a duty officer needs first: the city risk spectrum (hazard x district), firing alerts with
their first action and an acknowledge button, the newest anomalies, and a sparkline of any sensor.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from resilience.api.auth import SESSION_COOKIE, WATCH, authenticated

router = APIRouter(tags=["dashboard"])

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lifeline operations</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 18px;display:flex;gap:18px;align-items:center}
header h1{font-size:18px;margin:0} #ready{font-size:12px;padding:2px 8px;border-radius:9px;background:#555}
main{display:grid;grid-template-columns:1fr 1fr;gap:14px;padding:14px}
section{background:#fff;border-radius:6px;padding:10px 14px;box-shadow:0 1px 2px #0002;overflow:auto}
section.wide{grid-column:1/3} h2{font-size:15px;margin:4px 0 8px}
table{border-collapse:collapse;width:100%} td,th{padding:3px 6px;border-bottom:1px solid #eee;text-align:left;font-size:13px}
.lvl{font-weight:600;border-radius:4px;padding:1px 6px;color:#fff}
.red{background:#d62728}.orange{background:#ff7f0e}.yellow{background:#e6c200;color:#222}.blue{background:#1f77b4}
.none{background:#e8ebef;color:#666} td.cell{text-align:center}
button{font-size:12px;cursor:pointer} input{font-size:13px} .muted{color:#777;font-size:12px}
</style></head><body>
<header><h1>Lifeline operations centre</h1><span id="ready">...</span><span class="muted" id="clock"></span>
<a href="/console/" style="color:#9cf;margin-left:auto">控制台 / Console</a>
<a href="/docs" style="color:#9cf">API</a></header>
<main>
<section class="wide"><h2>City risk spectrum</h2><div id="spectrum" class="muted">loading</div></section>
<section><h2>Firing alerts</h2><div id="alerts" class="muted">loading</div></section>
<section><h2>Newest anomalies</h2><div id="anomalies" class="muted">loading</div></section>
<section class="wide"><h2>Sensor history</h2>
<input id="sensor" placeholder="sensor id, e.g. S000002"> <button onclick="plot()">show last 6 h</button>
<div id="chart" class="muted"></div></section>
</main>
<script>
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
const badge = l => `<span class="lvl ${esc(l)}">${esc(l)}</span>`;
async function j(url, opts){ const r = await fetch(url, opts); if(!r.ok) throw new Error(r.status); return r.json(); }
async function ready(){ try{ const r = await fetch("/readyz"); const b = await r.json();
  const el = document.getElementById("ready"); el.textContent = b.status; el.style.background = r.ok ? "#2a7" : "#c33";
 }catch(e){} document.getElementById("clock").textContent = new Date().toISOString().slice(0,19)+"Z"; }
async function spectrum(){ try{ const s = await j("/api/v1/risk/spectrum");
  if(!s.hazards || !s.hazards.length){ document.getElementById("spectrum").textContent = "no risk computed yet"; return; }
  let h = "<table><tr><th>hazard</th><th>city</th>" + s.districts.map(d => `<th>${esc(d)}</th>`).join("") + "</tr>";
  s.hazards.forEach((hz, i) => { h += `<tr><td>${esc(hz)}</td><td class="cell">${badge(s.city[hz])}</td>` +
    s.levels[i].map(l => `<td class="cell">${badge(l)}</td>`).join("") + "</tr>"; });
  document.getElementById("spectrum").innerHTML = h + "</table>";
 }catch(e){ document.getElementById("spectrum").textContent = "risk API unavailable"; } }
async function alerts(){ try{ const a = await j("/api/v1/alerts?state=firing&state=acknowledged&limit=30");
  if(!a.data.length){ document.getElementById("alerts").textContent = "no firing alerts"; return; }
  document.getElementById("alerts").innerHTML = "<table>" + a.data.map(x => `<tr><td>${badge(x.level)}</td>
    <td><b>${esc(x.hazard)}</b> ${esc(x.asset_id || x.district_id || x.scope)}<br><span class="muted">${esc(x.explanation)}</span>
    <br><span class="muted">${esc(x.action_en)}</span></td><td>${esc(x.state)}<br>${x.state === "firing" ?
    `<button onclick="ack(${x.id})">acknowledge</button>` : esc(x.acknowledged_by)}</td></tr>`).join("") + "</table>";
 }catch(e){ document.getElementById("alerts").textContent = "alerts API unavailable"; } }
async function ack(id){ const by = prompt("Acknowledged by (name):"); if(!by) return;
  await fetch(`/api/v1/alerts/${id}/ack`, {method:"POST", headers:{"Content-Type":"application/json"},
    body: JSON.stringify({by, note: "acknowledged on the dashboard"})}); alerts(); }
async function anomalies(){ try{ const a = await j("/api/v1/anomalies?limit=15");
  if(!a.data.length){ document.getElementById("anomalies").textContent = "none yet"; return; }
  document.getElementById("anomalies").innerHTML = "<table>" + a.data.map(x => `<tr><td>${x.level !== "none" ?
    badge(x.level) : x.peak_score.toFixed(2)}</td><td>${esc(x.sensor_id)}<br><span class="muted">${esc(x.explanation)}</span></td>
    <td class="muted">${esc(x.start.slice(11,19))}${x.open ? " open" : ""}</td></tr>`).join("") + "</table>";
 }catch(e){ document.getElementById("anomalies").textContent = "anomalies API unavailable"; } }
async function plot(){ const id = document.getElementById("sensor").value.trim(); if(!id) return;
  const start = new Date(Date.now() - 6*3600e3).toISOString();
  try{ const r = await j(`/api/v1/sensors/${encodeURIComponent(id)}/readings?bucket=5m&agg=avg&start=${start}`);
   const v = r.data.map(p => p.value).filter(x => x !== null); if(!v.length){ throw new Error("no data"); }
   const lo = Math.min(...v), hi = Math.max(...v), w = 900, h = 120, n = v.length;
   const pts = v.map((y, i) => `${(i/(Math.max(n-1,1)))*w},${h - ((y-lo)/((hi-lo)||1))*h}`).join(" ");
   document.getElementById("chart").innerHTML = `<svg width="${w}" height="${h+4}"><polyline fill="none" stroke="#1f77b4"
     stroke-width="1.5" points="${pts}"/></svg><div class="muted">${esc(id)}: ${n} buckets, ${lo.toPrecision(4)}..${hi.toPrecision(4)} ${esc(r.unit)}</div>`;
  }catch(e){ document.getElementById("chart").textContent = `no readings for ${id}`; } }
function refresh(){ ready(); spectrum(); alerts(); anomalies(); }
refresh(); setInterval(refresh, 5000);
</script></body></html>"""


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request) -> Response:
    """The page for a logged-in watcher; anyone else is sent to the login form."""
    try:
        who = authenticated(request, request.headers.get("x-api-key"), None, request.cookies.get(SESSION_COOKIE))
    except HTTPException:
        return RedirectResponse("/login", status_code=303)
    if who.role not in WATCH:
        return HTMLResponse("this key's role may not watch the dashboard", status_code=403)
    return HTMLResponse(PAGE)
