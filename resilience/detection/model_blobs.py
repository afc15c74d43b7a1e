"""The one envelope for fitted models stored as bytes (``ml_models.blob``, ``state_models.blob``).

A blob is a pickle of ``{"format", "version", "model"}``. The format tag says which layout it is, so a
model of another kind or an older layout is refused instead of half-loaded; the version is recomputed from
the loaded model and must match, so a blob whose model was changed after it was tagged is refused too.
Only load blobs from the platform's own database: unpickling runs code.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import TypeVar

M = TypeVar("M")


def pack_model(format_tag: str, version: str, model: object) -> bytes:
    """The model in its envelope, with the highest pickle protocol this Python has."""
    return pickle.dumps({"format": format_tag, "version": version, "model": model}, protocol=pickle.HIGHEST_PROTOCOL)


def unpack_model(blob: bytes, format_tag: str, model_type: type[M], version_of: Callable[[M], str]) -> M:
    """The model inside a :func:`pack_model` envelope; ValueError if the format, type or version is wrong."""
    payload = pickle.loads(blob)
    if not isinstance(payload, dict) or payload.get("format") != format_tag:
        raise ValueError(f"not a {format_tag} blob")
    model = payload.get("model")
    if not isinstance(model, model_type) or version_of(model) != payload.get("version"):
        raise ValueError(f"{format_tag} blob version mismatch")
    return model
