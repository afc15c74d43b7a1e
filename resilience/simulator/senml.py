"""SenML (RFC 8428) JSON packs for a batch of readings, grouped per utility (one MQTT topic each).

Every record carries its own ``n`` (sensor id), ``u``, ``v`` and relative ``t``; the first record also
carries ``bt`` (epoch seconds) and ``bu``. A small deterministic fraction of pressure, river-level and
deflection readings is sent in a different but convertible unit (kPa, cm) to exercise the ingest-side
unit conversion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from resilience.simulator.physics import hash_uniform

MAX_RECORDS = 100
# canonical unit -> (alternative unit, factor to multiply the canonical value by)
ALT_UNITS: dict[str, tuple[str, float]] = {"MPa": ("kPa", 1000.0), "m": ("cm", 100.0), "mm": ("cm", 0.1)}


def _round(values: np.ndarray) -> list[float]:
    """6 significant digits keeps packs small without visible quantisation."""
    return [float(f"{x:.6g}") for x in values.tolist()]


def build_packs(
    sensor_ids: Sequence[str],
    units: Sequence[str],
    utility_of: Sequence[str],
    idx: np.ndarray,
    t: np.ndarray,
    v: np.ndarray,
    alt_unit_fraction: float = 0.02,
    seed: int = 0,
    max_records: int = MAX_RECORDS,
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Yield ``(utility_id, pack)`` with at most ``max_records`` records per pack, time-ordered within a pack."""
    if idx.size == 0:
        return
    alt = hash_uniform(seed, idx, t, 999) < alt_unit_fraction if alt_unit_fraction > 0 else np.zeros(idx.size, bool)
    util = np.array([utility_of[i] for i in idx.tolist()])
    for u in np.unique(util):
        sel = np.nonzero(util == u)[0]
        sel = sel[np.argsort(t[sel], kind="stable")]
        for lo in range(0, sel.size, max_records):
            part = sel[lo : lo + max_records]
            bt = float(t[part[0]])
            rel = _round(t[part] - bt)
            vals = v[part]
            names = [sensor_ids[i] for i in idx[part].tolist()]
            unit_list = [units[i] for i in idx[part].tolist()]
            alt_part = alt[part].tolist()
            values = _round(vals)
            pack: list[dict[str, Any]] = []
            for k, (n, un, val, dt, a) in enumerate(zip(names, unit_list, values, rel, alt_part, strict=True)):
                if a and un in ALT_UNITS:
                    un, factor = ALT_UNITS[un]
                    val = float(f"{val * factor:.6g}")
                rec: dict[str, Any] = {"n": n, "u": un, "v": val, "t": dt}
                if k == 0:
                    rec = {"bt": bt, "bu": un, **rec}
                pack.append(rec)
            yield str(u), pack


def encode(pack: list[dict[str, Any]]) -> bytes:
    return json.dumps(pack, separators=(",", ":")).encode()


def resolve(pack: list[dict[str, Any]]) -> list[tuple[str, float, str | None, float]]:
    """Resolved records ``(name, epoch_time, unit, value)`` per RFC 8428 section 4.6 (base fields carry over)."""
    out: list[tuple[str, float, str | None, float]] = []
    bn, bt, bu = "", 0.0, None
    for rec in pack:
        bn = rec.get("bn", bn)
        bt = rec.get("bt", bt)
        bu = rec.get("bu", bu)
        unit = rec.get("u", bu)
        out.append((str(bn + rec.get("n", "")), float(bt + rec.get("t", 0.0)), unit, float(rec["v"])))
    return out
