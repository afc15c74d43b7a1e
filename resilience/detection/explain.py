"""What detection says about a sensor, as message codes and parameters (see :mod:`resilience.core.messages`).

Each detector's :meth:`~resilience.detection.base.Detector.describe` returns one of these messages; the
English sentence of an anomaly (``AnomalyEvent.explanation``) is rendered from ``EN``, and the console says
the same code from its catalogues (``anomaly.*`` keys), whose English entries are these templates.
Parameters named in ``resilience.core.messages.ENUM_PARAMS`` are enumeration values the console translates;
``TIME_PARAMS`` there are ISO timestamps it shows in the viewer's zone. Everything else is already formatted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.core.display import kind_label
from resilience.core.messages import Message, codes_of, make, render, text

#: code -> English template; the parameters of each code are the template's fields
EN: dict[str, str] = {
    "anomaly.limit_reached": "{value} reached {level} limit {limit}",
    "anomaly.rate_jump": "{value}, {verb} by {jump} in {seconds} s (faster than the {level} limit: {limit} "
    "within {minutes} min)",
    "anomaly.rate_change": "{value}, {verb} by {change} within {minutes} min",
    "anomaly.rate_change_limit": "{value}, {verb} by {change} within {minutes} min (reached {level} limit: "
    "{limit} within {minutes} min)",
    "anomaly.held_off_level": "{value}, held {amount} {side} the recent level {median} for {agree} of the last "
    "{recent} readings",
    "anomaly.far_from_median": "{value}, far {side} the recent median {median}",
    "anomaly.drift": "{value}, sustained {trend} drift from the baseline {baseline}",
    "anomaly.stuck": "value stuck at {value} for {readings} readings ({minutes} min)",
    "anomaly.stuck_at_floor": "value stuck at {value} for {readings} readings ({minutes} min); when working it "
    "reads {value} at most {floor_run} times in a row",
    "anomaly.stuck_plain": "stuck",
    "anomaly.changing_again": "values changing again",
    "anomaly.seasonal_usual": "{value}, usual for this hour is {usual}",
    "anomaly.seasonal": "{value}, {pct}% {side} this hour's usual {usual}",
    "anomaly.sensor": "{sensor_kind} {detail}",
    "anomaly.back_to_normal": "back to normal",
    "anomaly.back_to_normal_peak": "back to normal; peak was: {peak}",
    "anomaly.silent_since": "{sensor_kind} sensor {sensor} silent: no reading since {since} (expected every "
    "{interval} s)",
    "anomaly.silent_never": "{sensor_kind} sensor {sensor} silent: never reported (expected every {interval} s)",
    "anomaly.reporting_again": "{sensor_kind} sensor {sensor} reporting again",
    "anomaly.state_left_normal": "{asset}: operating state of {sensors} sensors left normal ({ratio}x its control "
    "limit), mostly {contributors}",
    "anomaly.contributor": "{sensor_kind} {sensor} {value} ({share}%)",
    "anomaly.asset_model": "{asset}: combined behaviour of {sensors} sensors is unusual (score {score}), mostly "
    "{sensor_kind} {value} ({share}% of the deviation)",
}
# English words of the enumeration parameters (the console's en catalogue says the same)
_WORDS = {"sensor_kind": kind_label}


#: code -> its parameters
CODES = codes_of(EN)


def msg(code: str, **params: Any) -> Message:
    """A detection message (checked against ``CODES``).

    >>> render_en(msg("anomaly.limit_reached", value="22 %LEL", level="orange", limit="20 %LEL"))
    '22 %LEL reached orange limit 20 %LEL'
    >>> msg("anomaly.limit_reached", value="22 %LEL")
    Traceback (most recent call last):
    ...
    ValueError: message anomaly.limit_reached takes ['level', 'limit', 'value'], got ['value']
    """
    return make(CODES, code, params)


def closing_message(peak: Message | None) -> Message:
    """What an anomaly's close says: back to normal, and what its peak was."""
    return msg("anomaly.back_to_normal_peak", peak=peak) if peak else msg("anomaly.back_to_normal")


def stored_message(d: Mapping[str, Any]) -> Message | None:
    """The message of an open anomaly kept in a snapshot; one kept before messages had codes is its sentence."""
    if d.get("message") is not None:
        return dict(d["message"])
    return text(d["explanation"]) if d.get("explanation") else None


def render_en(message: Message | None) -> str:
    """The English sentence of a detection message."""
    return render(message, EN, _WORDS)
