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

import string
from collections.abc import Callable, Mapping
from typing import Any

Message = dict[str, Any]
#: a message that is only a sentence: what was stored before messages carried codes, and free text
TEXT = "msg.text"
#: a registry entity's name in both languages (``{"zh": ..., "en": ...}``): the catalogue's ``msg.name_lang``
#: says which one its readers see (templates without it: English)
NAME = "msg.name"
NAME_LANG = "msg.name_lang"
#: parameters that are enumeration values, and the catalogue's kind for them (``<kind>.<value>`` keys):
#: every producer's (risk, detection, alerts) and the console's ``ENUM`` (js/messages.js) say the same
ENUM_PARAMS: dict[str, str] = {
    "level": "level",
    "hazard": "hazard",
    "kind": "kind",
    "sensor_kind": "sensor",
    "status": "health",
    "rule": "rule",
    "facility": "facility",
    "verb": "verb",
    "side": "side",
    "trend": "trend",
}
#: parameters that are ISO timestamps (the console shows them in the viewer's zone)
TIME_PARAMS = {"since"}
#: the separator of a list parameter: ``<code>.sep`` in the templates if there is one, else this entry
LIST_SEP = "msg.list_sep"


def codes_of(templates: Mapping[str, str]) -> dict[str, set[str]]:
    """Each code's parameters, read from its template's fields (a producer whose English templates are its
    list of codes states each parameter once)."""
    return {
        code: {name for _, name, _, _ in string.Formatter().parse(template) if name}
        for code, template in templates.items()
    }


def make(codes: Mapping[str, set[str]], code: str, params: Mapping[str, Any]) -> Message:
    """A message, its parameters checked against the producer's ``codes`` (a typo fails where it is made)."""
    if code not in codes or set(params) != codes[code]:
        raise ValueError(f"message {code} takes {sorted(codes.get(code, ()))}, got {sorted(params)}")
    return {"code": code, "params": dict(params)}


def text(sentence: str) -> Message:
    """A message that says ``sentence`` as it is, in every language."""
    return {"code": TEXT, "params": {"text": sentence}}


def name(zh: str | None, en: str | None, fallback: str) -> Message:
    """An entity's name as the reader of each language sees it: theirs, else the other, else ``fallback``
    (the name of record, or the id)."""
    return {"code": NAME, "params": {"zh": zh or en or fallback, "en": en or zh or fallback}}


def is_message(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("code"), str) and isinstance(value.get("params"), dict)


def render(
    message: Message | None,
    templates: Mapping[str, str],
    words: Mapping[str, Callable[[Any], str]] | None = None,
    list_sep: str = ", ",
) -> str:
    """The sentence ``message`` says with ``templates`` (code -> str.format template); ``words`` turns an
    enumeration parameter (a sensor kind, say) into its word; a list parameter is joined with the template
    ``<code>.sep`` if there is one, else ``list_sep``. Unknown codes render as an empty string.

    >>> said = {"code": "x.hi", "params": {"who": {"code": "x.name", "params": {"n": "Li"}}, "kind": "gas"}}
    >>> render(said, {"x.hi": "{kind}: hello {who}", "x.name": "Mr {n}"}, {"kind": str.upper})
    'GAS: hello Mr Li'
    """
    if message is None:
        return ""
    if message["code"] == TEXT:
        return str(message["params"].get("text", ""))
    if message["code"] == NAME:
        said = message["params"]
        return str(said.get(templates.get(NAME_LANG, "en")) or said.get("en") or said.get("zh") or "")
    template = templates.get(message["code"])
    if template is None:
        return ""
    words = words or {}
    values: dict[str, str] = {}
    for name, value in message["params"].items():
        if is_message(value):
            values[name] = render(value, templates, words, list_sep)
        elif isinstance(value, list):
            sep = templates.get(f"{message['code']}.sep", list_sep)
            values[name] = sep.join(render(v, templates, words, list_sep) for v in value if is_message(v))
        elif name in words and value is not None:
            values[name] = words[name](value)
        else:
            values[name] = "" if value is None else str(value)
    return template.format_map(_Kept(values))


class _Kept(dict[str, str]):
    """Template values; a placeholder without one is kept as written rather than raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def in_catalogue(message: Message | None, catalogue: Mapping[str, str]) -> str:
    """The sentence ``message`` says in a message catalogue (the console's ``messages.<lang>.json``):
    enumeration values through its ``<kind>.<value>`` entries, lists joined by its separators."""

    def word(kind: str) -> Callable[[Any], str]:
        return lambda value: catalogue.get(f"{kind}.{value}", str(value))

    words = {name: word(kind) for name, kind in ENUM_PARAMS.items()}
    return render(message, catalogue, words, catalogue.get(LIST_SEP, ", "))
