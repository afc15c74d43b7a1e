"""City simulator: a synthetic registry, per-kind sensor physics, injected incidents with ground truth,
and SenML-over-MQTT publishing (issue 2, part 8)."""

from resilience.simulator.city import Asset, City, District, Sensor, Utility, build_city
from resilience.simulator.simulation import Batch, Simulator
from resilience.simulator.incidents import INCIDENT_TYPES, Effect, Incident, default_schedule, write_ground_truth

__all__ = [
    "Asset",
    "Batch",
    "City",
    "District",
    "Effect",
    "INCIDENT_TYPES",
    "Incident",
    "Sensor",
    "Simulator",
    "Utility",
    "build_city",
    "default_schedule",
    "write_ground_truth",
]
