"""The unit allowlist: every unit the platform uses is there, factors are right, anything else is refused."""

from __future__ import annotations

import math

import pytest

import ingest.units
import ingest.validate
from ingest.units import ACCEPTED
from ingest.validate import UnitError, conversion
from resilience.core.domain import SENSOR_KINDS
from resilience.simulator.senml import ALT_UNITS

# Test-only: how pint spells the allowlisted strings it does not read as SenML means them.
PINT_SPELLING = {
    "Cel": "degC",
    "%": "percent",
    "%RH": "percent",
    "/100": "percent",
    "/1000": "permille",
    "/": "dimensionless",
    "%LEL": "percent_lel",
    "%lel": "percent_lel",
    "psig": "psi",
    "m3/h": "m**3/h",
    "m3/s": "m**3/s",
    "m3/min": "m**3/min",
    "ue": "microstrain",
    "µε": "microstrain",
    "με": "microstrain",
    "m/s2": "m/s**2",
    "mm/s2": "mm/s**2",
}


def test_every_canonical_unit_of_the_domain_has_spellings() -> None:
    canonical = {spec.unit for spec in SENSOR_KINDS.values()}
    assert canonical <= set(ACCEPTED)
    for unit in canonical:
        assert conversion(unit, unit) == (1.0, 0.0)


@pytest.mark.parametrize(("canonical", "alt"), [(c, a) for c, (a, _) in ALT_UNITS.items()])
def test_simulator_alternative_units_convert_back(canonical: str, alt: str) -> None:
    scale, offset = conversion(alt, canonical)
    factor = ALT_UNITS[canonical][1]  # the simulator multiplied the canonical value by this
    assert scale * factor == pytest.approx(1.0) and offset == 0.0


@pytest.mark.parametrize(
    ("sent", "canonical", "value", "expected"),
    [
        ("kPa", "MPa", 295.0, 0.295),
        ("bar", "MPa", 3.0, 0.3),
        ("Pa", "MPa", 1e6, 1.0),
        ("Cel", "degC", 21.5, 21.5),
        ("K", "degC", 273.15, 0.0),
        ("degF", "degC", 212.0, 100.0),
        ("m3/s", "m**3/h", 1.0, 3600.0),
        ("l/s", "m**3/h", 1.0, 3.6),
        ("L/s", "m**3/h", 10.0, 36.0),
        ("cm", "m", 250.0, 2.5),
        ("mm", "cm", 15.0, 1.5),
        ("ue", "microstrain", 12.0, 12.0),
        ("µε", "microstrain", 12.0, 12.0),
        ("/", "percent", 0.5, 50.0),
        ("%RH", "percent", 80.0, 80.0),
        ("%LEL", "percent_lel", 12.0, 12.0),
        ("mm/hr", "mm/h", 3.0, 3.0),
        ("m/s2", "m/s**2", 9.8, 9.8),
        ("%", "permille", 0.4, 4.0),
        ("ppb", "ppm", 2000.0, 2.0),
    ],
)
def test_known_conversions(sent: str, canonical: str, value: float, expected: float) -> None:
    scale, offset = conversion(sent, canonical)
    assert value * scale + offset == pytest.approx(expected)


def test_factors_agree_with_pint() -> None:
    """The literal factors are checked against pint here, on allowlisted strings only."""
    pint = pytest.importorskip("pint")
    ureg = pint.UnitRegistry()
    ureg.define("lel_fraction = [explosive_fraction]")
    ureg.define("percent_lel = 0.01 * lel_fraction")
    ureg.define("microstrain = 1e-6")
    if "permille" not in ureg:
        ureg.define("permille = 0.001")
    if "ppb" not in ureg:
        ureg.define("ppb = 1e-9")
    for canonical, table in ACCEPTED.items():
        if canonical == "dB":
            continue  # logarithmic: only the identity is accepted
        dst = ureg.Unit(PINT_SPELLING.get(canonical, canonical))
        for sent, (scale, offset) in table.items():
            src = ureg.Unit(PINT_SPELLING.get(sent, sent))
            zero = ureg.Quantity(0.0, src).to(dst).magnitude
            one = ureg.Quantity(1.0, src).to(dst).magnitude
            assert math.isclose(scale, one - zero, rel_tol=1e-9), (sent, canonical, scale, one - zero)
            assert math.isclose(offset, zero, abs_tol=1e-9), (sent, canonical, offset, zero)


@pytest.mark.parametrize(
    "sent",
    [
        "(",
        "1/0",
        "kPa**",
        "9**9**9",
        "kPa*0",
        "MPa ",
        "mpa",
        "",
        "m**3/h**",
        "10**100000",
        "degC",
        "__import__('os')",
        "\x00",
        "\ud800",
    ],
)
def test_poison_units_are_refused_with_what_is_accepted(sent: str) -> None:
    with pytest.raises(UnitError) as exc:
        conversion(sent, "MPa")
    message = str(exc.value)
    assert repr(sent) in message and "accepted: " in message and "kPa" in message
    message.encode("utf-8")  # repr escapes NUL and surrogates


def test_no_unit_expression_engine_is_reachable_from_ingest() -> None:
    """'9**9**9' must never be evaluated: validation holds only a lookup table, no pint registry."""
    for module in (ingest.validate, ingest.units):
        assert not any(
            getattr(v, "__module__", "").startswith("pint") or getattr(v, "__name__", "") == "pint"
            for v in vars(module).values()
        )


def test_long_unit_is_cut_short_in_the_message() -> None:
    with pytest.raises(UnitError) as exc:
        conversion("k" * 100_000, "MPa")
    assert len(str(exc.value)) < 400 and "…" in str(exc.value)


@pytest.mark.parametrize("sent", [5, 1.5, None, True, ["kPa"], {"u": "kPa"}, b"kPa"])
def test_unit_not_a_string_is_refused(sent: object) -> None:
    with pytest.raises(UnitError, match="not a string"):
        conversion(sent, "MPa")  # type: ignore[arg-type]


def test_canonical_unit_without_a_table_accepts_only_itself() -> None:
    assert conversion("x", "x") == (1.0, 0.0)
    with pytest.raises(UnitError, match="'y' cannot be converted to 'x'"):
        conversion("y", "x")


def test_the_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        ACCEPTED["MPa"]["evil"] = (1.0, 0.0)  # type: ignore[index]
