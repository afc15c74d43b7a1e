"""The units the platform accepts on ingest: an allowlist of spellings per canonical unit.

A sent unit is an untrusted string. Evaluating it as a free-form unit expression (pint) let inputs such
as ``"("`` or ``"1/0"`` raise and ``"9**9**9"`` burn seconds of CPU, so ingest only ever looks sent
units up in this table. Each spelling maps to an affine ``(scale, offset)`` with
``canonical = sent * scale + offset``; the factors are literal SI definitions (tests cross-check them
against pint), so importing this module evaluates nothing.

Spellings are exact, case-sensitive strings: SenML units (RFC 8428 s12.1 and the RFC 8798 secondary
units) first, then the canonical (pint-style) spelling and common field spellings.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

Affine = tuple[float, float]

_PA_TO_MPA: Final = 1e-6
_F_TO_C_SCALE: Final = 5.0 / 9.0

# canonical unit -> {sent spelling: (scale, offset)}. The canonical spelling itself is always accepted.
_SPELLINGS: Final[dict[str, dict[str, Affine]]] = {
    "percent_lel": {"%LEL": (1.0, 0.0), "%lel": (1.0, 0.0), "percent_lel": (1.0, 0.0)},
    "ppm": {"ppm": (1.0, 0.0), "ppb": (1e-3, 0.0)},
    "MPa": {
        "MPa": (1.0, 0.0),
        "kPa": (1e-3, 0.0),
        "Pa": (_PA_TO_MPA, 0.0),
        "hPa": (1e-4, 0.0),
        "bar": (0.1, 0.0),
        "mbar": (1e-4, 0.0),
        "psi": (6894.757293168361 * _PA_TO_MPA, 0.0),
        "psig": (6894.757293168361 * _PA_TO_MPA, 0.0),
    },
    "m**3/h": {
        "m3/h": (1.0, 0.0),
        "m**3/h": (1.0, 0.0),
        "m3/s": (3600.0, 0.0),
        "m**3/s": (3600.0, 0.0),
        "m3/min": (60.0, 0.0),
        "l/s": (3.6, 0.0),
        "L/s": (3.6, 0.0),
        "l/min": (0.06, 0.0),
        "L/min": (0.06, 0.0),
        "l/h": (1e-3, 0.0),
        "L/h": (1e-3, 0.0),
    },
    "dB": {"dB": (1.0, 0.0)},
    "percent": {
        "%": (1.0, 0.0),
        "%RH": (1.0, 0.0),
        "/100": (1.0, 0.0),
        "percent": (1.0, 0.0),
        "/": (100.0, 0.0),
        "/1000": (0.1, 0.0),
        "permille": (0.1, 0.0),
        "‰": (0.1, 0.0),
    },
    "m": {"m": (1.0, 0.0), "cm": (0.01, 0.0), "mm": (1e-3, 0.0), "km": (1e3, 0.0)},
    "cm": {"cm": (1.0, 0.0), "mm": (0.1, 0.0), "m": (100.0, 0.0)},
    "mm/h": {"mm/h": (1.0, 0.0), "mm/hr": (1.0, 0.0), "m/h": (1e3, 0.0), "mm/min": (60.0, 0.0), "m/s": (3.6e6, 0.0)},
    "microstrain": {"ue": (1.0, 0.0), "µε": (1.0, 0.0), "με": (1.0, 0.0), "microstrain": (1.0, 0.0), "/": (1e6, 0.0)},
    "mm": {"mm": (1.0, 0.0), "cm": (10.0, 0.0), "m": (1e3, 0.0), "um": (1e-3, 0.0), "µm": (1e-3, 0.0)},
    "permille": {
        "/1000": (1.0, 0.0),
        "‰": (1.0, 0.0),
        "permille": (1.0, 0.0),
        "%": (10.0, 0.0),
        "/100": (10.0, 0.0),
        "/": (1e3, 0.0),
        "mm/m": (1.0, 0.0),
    },
    "m/s**2": {"m/s2": (1.0, 0.0), "m/s**2": (1.0, 0.0), "m/s^2": (1.0, 0.0), "mm/s2": (1e-3, 0.0)},
    "degC": {
        "Cel": (1.0, 0.0),
        "degC": (1.0, 0.0),
        "°C": (1.0, 0.0),
        "K": (1.0, -273.15),
        "degF": (_F_TO_C_SCALE, -32.0 * _F_TO_C_SCALE),
        "°F": (_F_TO_C_SCALE, -32.0 * _F_TO_C_SCALE),
    },
}

#: canonical unit -> read-only {accepted spelling: (scale, offset)}; built once at import.
ACCEPTED: Final = MappingProxyType({c: MappingProxyType({c: (1.0, 0.0), **s}) for c, s in _SPELLINGS.items()})

#: canonical unit -> the accepted spellings as one sorted, comma-separated string (for error messages).
ACCEPTED_TEXT: Final = MappingProxyType({c: ", ".join(sorted(s)) for c, s in ACCEPTED.items()})

IDENTITY: Final[Affine] = (1.0, 0.0)
