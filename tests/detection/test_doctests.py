"""The docstring examples are part of the contract: run them."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["base", "detectors", "ensemble", "engine", "multivariate", "nab", "silence", "units"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(f"resilience.detection.{name}")
    result = doctest.testmod(module)
    assert result.failed == 0
