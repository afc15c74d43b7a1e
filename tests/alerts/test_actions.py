"""Every hazard the risk model can raise has its own first action and name for the duty officer, in Chinese
and English, never the sensor-fault texts a missing entry would fall back to."""

from __future__ import annotations

import pytest

from alerts.actions import FIRST_ACTIONS, HAZARD_NAMES, first_action
from resilience.core.domain import Hazard, Level
from resilience.risk.hazards import DEFAULT_HAZARDS


@pytest.mark.parametrize("hazard", sorted(DEFAULT_HAZARDS))
def test_each_risk_hazard_has_its_own_first_actions(hazard: str) -> None:
    assert hazard in {h.value for h in Hazard}
    assert hazard in FIRST_ACTIONS and hazard in HAZARD_NAMES
    fault = {first_action("sensor_fault", lvl) for lvl in (Level.YELLOW, Level.RED)}
    for level in (Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED):
        zh, en = first_action(hazard, level)
        assert zh and en and (zh, en) not in fault


def test_a_toxic_atmosphere_at_red_keeps_people_out_of_the_confined_space() -> None:
    zh, en = first_action(Hazard.TOXIC_ATMOSPHERE.value, Level.RED)
    assert "受限空间" in zh and "confined space" in en
