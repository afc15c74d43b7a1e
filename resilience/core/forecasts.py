"""What a projection says (``forecast.*`` message codes), shared by the detection worker that makes it and
the API that shows it as it stands now (the minutes left shrink as time passes; the code stays)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from resilience.core.messages import Message, codes_of, make, render

#: code -> English template (the console's catalogues say the same codes)
EN: dict[str, str] = {
    "forecast.reach": "{level} in about {minutes} min ({low}-{high} min)",
    "forecast.withdrawn": "trend stopped: projection withdrawn",
    "forecast.reached": "{level} reached: projection ended",
}
CODES = codes_of(EN)


def msg(code: str, **params: Any) -> Message:
    """A forecast message (checked against ``CODES``)."""
    return make(CODES, code, params)


def reach_message(p: Mapping[str, Any], elapsed_s: float = 0.0) -> Message:
    """ "red in about 40 min (30-55 min)" for one projected level, ``elapsed_s`` after it was made."""
    high = p.get("eta_high_s")
    return msg(
        "forecast.reach",
        level=p["level"],
        minutes=max(1, round((p["eta_s"] - elapsed_s) / 60)),
        low=max(0, round((p["eta_low_s"] - elapsed_s) / 60)),
        high="∞" if high is None else max(1, round((high - elapsed_s) / 60)),
    )


def headline(projections: Sequence[Mapping[str, Any]], elapsed_s: float = 0.0) -> Message | None:
    """The message of the highest level projected (projections come lowest level first)."""
    return reach_message(projections[-1], elapsed_s) if projections else None


def render_en(message: Message | None) -> str:
    """The English sentence of a forecast message."""
    return render(message, EN, {})
