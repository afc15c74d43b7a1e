"""The docstring examples are part of the contract: run them."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "resilience.detection." + m
    for m in ("base", "detectors", "ensemble", "scoring", "multivariate", "silent_sensors", "explain")
] + ["resilience.core.display", "resilience.core.messages", "resilience.bench.nab.detector"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module)
    assert result.failed == 0
