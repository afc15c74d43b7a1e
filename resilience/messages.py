"""Messages as codes and parameters, so each reader gets a sentence in their own language.

An explanation that a duty officer reads (why a sensor is anomalous, why an alert fired) is made once, by
the stage that knows why, as ``{"code": ..., "params": {...}}``. The English sentence kept beside it for
logs, webhooks and CAP is rendered from the producer's English templates; the console renders the same
code from its message catalogues (``resilience/console/static/i18n/messages.*.json``), where the code is
the catalogue key. A parameter that is itself a message is rendered first; a list of messages is rendered
and joined. Numbers with units travel already formatted (``"22 %LEL"``): units and digits read the same in
every language. Each producer lists its codes with their parameters (``CODES``), and a test holds both
catalogues to them and the English catalogue to the producer's templates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Message = dict[str, Any]
#: a message that is only a sentence: what was stored before messages carried codes, and free text
TEXT = "msg.text"


def make(codes: Mapping[str, set[str]], code: str, params: Mapping[str, Any]) -> Message:
    """A message, its parameters checked against the producer's ``codes`` (a typo fails where it is made)."""
    if code not in codes or set(params) != codes[code]:
        raise ValueError(f"message {code} takes {sorted(codes.get(code, ()))}, got {sorted(params)}")
    return {"code": code, "params": dict(params)}


def text(sentence: str) -> Message:
    """A message that says ``sentence`` as it is, in every language."""
    return {"code": TEXT, "params": {"text": sentence}}


def is_message(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("code"), str) and isinstance(value.get("params"), dict)


def render(
    message: Message | None,
    templates: Mapping[str, str],
    words: Mapping[str, Callable[[Any], str]] | None = None,
    list_sep: str = ", ",
) -> str:
    """The sentence ``message`` says with ``templates`` (code -> str.format template); ``words`` turns an
    enumeration parameter (a sensor kind, say) into its word. Unknown codes render as an empty string.

    >>> said = {"code": "x.hi", "params": {"who": {"code": "x.name", "params": {"n": "Li"}}, "kind": "gas"}}
    >>> render(said, {"x.hi": "{kind}: hello {who}", "x.name": "Mr {n}"}, {"kind": str.upper})
    'GAS: hello Mr Li'
    """
    if message is None:
        return ""
    if message["code"] == TEXT:
        return str(message["params"].get("text", ""))
    template = templates.get(message["code"])
    if template is None:
        return ""
    words = words or {}
    values: dict[str, str] = {}
    for name, value in message["params"].items():
        if is_message(value):
            values[name] = render(value, templates, words, list_sep)
        elif isinstance(value, list):
            values[name] = list_sep.join(render(v, templates, words, list_sep) for v in value if is_message(v))
        elif name in words and value is not None:
            values[name] = words[name](value)
        else:
            values[name] = "" if value is None else str(value)
    return template.format(**values)
