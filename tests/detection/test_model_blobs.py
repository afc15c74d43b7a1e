"""The model envelope refuses a blob of another format, type or version instead of half-loading it."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest

from resilience.detection.model_blobs import pack_model, unpack_model


@dataclass
class Toy:
    weight: float

    def version(self) -> str:
        return f"toy-{self.weight}"


def test_a_packed_model_comes_back_equal() -> None:
    blob = pack_model("toy/1", Toy(2.0).version(), Toy(2.0))
    assert unpack_model(blob, "toy/1", Toy, Toy.version) == Toy(2.0)


@pytest.mark.parametrize(
    "blob, reason",
    [
        (pack_model("toy/0", "toy-2.0", Toy(2.0)), "not a toy/1 blob"),
        (pickle.dumps(["not", "an", "envelope"]), "not a toy/1 blob"),
        (pack_model("toy/1", "toy-2.0", {"weight": 2.0}), "version mismatch"),
        (pack_model("toy/1", "toy-3.0", Toy(2.0)), "version mismatch"),
    ],
)
def test_a_wrong_blob_is_refused_with_a_reason(blob: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        unpack_model(blob, "toy/1", Toy, Toy.version)
