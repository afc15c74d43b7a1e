"""The console's message catalogues, read by the services too, so what they send says it in Chinese as well.

The catalogues (``resilience/console/static/i18n/messages.<lang>.json``) are the one place a sentence is
written per language: the browser fetches them, and the alert service reads them here to write the Chinese
half of a CAP alert and of an e-mail. English is also rendered from each producer's own templates, which a
test holds equal to the English catalogue.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from resilience.core.messages import Message, in_catalogue

CATALOGUES = Path(__file__).resolve().parents[1] / "console" / "static" / "i18n"
LANGS = ("zh-CN", "en")


@lru_cache(maxsize=len(LANGS))
def catalogue(lang: str) -> dict[str, str]:
    """The catalogue of ``lang`` (one of ``LANGS``)."""
    if lang not in LANGS:
        raise ValueError(f"no catalogue for {lang!r}; there are {LANGS}")
    data = json.loads((CATALOGUES / f"messages.{lang}.json").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def actor_name(actor: str | None, lang: str) -> str:
    """Who did something, as a reader of ``lang`` calls them: the platform itself ("system", or nobody named)
    and the receivers of the alert rules (``duty_supervisor``) have catalogue names (``actor.<name>``); a
    person's or a key's name is shown as it is."""
    return catalogue(lang).get(f"actor.{actor or 'system'}", actor or "")


def say(message: Message | None, lang: str) -> str:
    """``message`` in ``lang``; empty for None or a code the catalogue does not have."""
    return in_catalogue(message, catalogue(lang))
