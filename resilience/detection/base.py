"""One streaming detector protocol, shared by production, backtests and benchmarks.

River-style: ``learn_one(x, t)`` updates state and returns None, ``score_one(x, t)`` returns a float in
[0, 1] where high means anomalous. Deciding (thresholding) is a separate step, done by the ensemble and
the engine. ``__init__`` only stores its arguments unchanged (so ``clone()`` and ``get_params()`` come from
the signature); learned state lives in attributes ending in ``_`` so ``to_state()`` can snapshot it as
plain JSON and ``from_state()`` can restore it exactly. Randomness, if any, comes only from ``seed``.

``Detector`` is an abstract base: a subclass that forgets ``learn_one`` or ``score_one`` cannot be built.
What only some detectors can do is a protocol of its own, checked once when an ensemble is assembled,
never probed with ``hasattr`` per reading: ``GradedDetector`` (reports a standards-based alarm level)
and ``FollowsRecent`` (keeps short-term memory in step with readings it must not learn as normal).
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from array import array
from collections import deque
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from resilience.detection.explain import render_en
from resilience.core.domain import Level
from resilience.core.messages import Message

D = TypeVar("D", bound="Detector")

_REGISTRY: dict[str, type[Detector]] = {}
_LEARNED: dict[type[Detector], tuple[str, ...]] = {}


def to_epoch(t: datetime | float) -> float:
    """Seconds since the epoch; naive datetimes are taken as UTC (the platform runs in UTC)."""
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return t.timestamp()
    return float(t)


def clip01(v: float) -> float:
    """Clamp to [0, 1]; NaN becomes 0 so a bad reading never looks like a certain anomaly."""
    if v != v:  # NaN
        return 0.0
    return 0.0 if v < 0.0 else (1.0 if v > 1.0 else v)


def ramp(z: float, lo: float, hi: float) -> float:
    """Linear map of a deviation statistic onto [0, 1]: 0 below ``lo``, 1 above ``hi``, 0.5 half way."""
    if z <= lo:
        return 0.0
    if z >= hi:
        return 1.0
    return (z - lo) / (hi - lo)


def _encode(v: Any) -> Any:
    if isinstance(v, array):
        return {"__array__": [_encode(i) for i in v], "typecode": v.typecode}
    if isinstance(v, deque):
        return {"__deque__": [_encode(i) for i in v], "maxlen": v.maxlen}
    if isinstance(v, datetime):
        return {"__datetime__": v.isoformat()}
    if isinstance(v, float) and not math.isfinite(v):
        return {"__float__": repr(v)}
    if isinstance(v, tuple):
        return {"__tuple__": [_encode(i) for i in v]}
    if isinstance(v, list):
        return [_encode(i) for i in v]
    if isinstance(v, dict):
        if all(isinstance(k, str) for k in v):
            return {"__dict__": {k: _encode(i) for k, i in v.items()}}
        return {"__items__": [[_encode(k), _encode(i)] for k, i in v.items()]}
    if isinstance(v, Detector):
        return {"__detector__": v.to_state()}
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalar
        return v.item()
    return v


def _decode(v: Any) -> Any:
    if isinstance(v, list):
        return [_decode(i) for i in v]
    if isinstance(v, dict):
        if "__deque__" in v:
            return deque((_decode(i) for i in v["__deque__"]), maxlen=v["maxlen"])
        if "__array__" in v:
            return array(v["typecode"], (_decode(i) for i in v["__array__"]))
        if "__datetime__" in v:
            return datetime.fromisoformat(v["__datetime__"])
        if "__float__" in v:
            return float(v["__float__"])
        if "__tuple__" in v:
            return tuple(_decode(i) for i in v["__tuple__"])
        if "__dict__" in v:
            return {k: _decode(i) for k, i in v["__dict__"].items()}
        if "__items__" in v:
            return {_decode(k): _decode(i) for k, i in v["__items__"]}
        if "__detector__" in v:
            return Detector.from_state(v["__detector__"])
    return v


_PLAIN = (float, int, bool, str, type(None))


def _compact(v: Any, views: bool) -> Any:
    if type(v) in _PLAIN:  # most learned values: checked first, by type (a restore packs millions)
        return v
    if isinstance(v, array):
        return memoryview(v) if views else v.tobytes()
    if isinstance(v, (deque, tuple)):
        return [_compact(i, views) for i in v]
    return v


def _uncompact(v: Any, like: Any) -> Any:
    """``v`` (as msgpack gave it back) in the type of ``like``, the fresh detector's attribute."""
    if type(like) in _PLAIN:  # MessagePack keeps floats, ints, bools, strings and None as they were
        return v
    if isinstance(like, array):
        out = array(like.typecode)
        out.frombytes(v)
        return out
    if isinstance(like, deque):
        return deque((tuple(i) if isinstance(i, list) else i for i in v), maxlen=like.maxlen)
    if isinstance(like, tuple):
        return tuple(v)
    return v


class Detector(ABC):
    """Base class of every streaming detector.

    Subclasses set ``name`` (the registry key used by configs and snapshots), store their parameters
    unchanged in ``__init__`` and create learned state lazily in ``_reset()``, called from ``__init__``.
    """

    name: ClassVar[str] = "detector"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.name] = cls

    # -- the streaming protocol ------------------------------------------------------------------
    @abstractmethod
    def learn_one(self, x: float, t: datetime | float) -> None:
        """Update the learned state with one observation; returns None because detectors are stateful."""

    @abstractmethod
    def score_one(self, x: float, t: datetime | float) -> float:
        """Anomaly score of ``x`` at ``t`` in [0, 1] before learning it; high means anomalous."""

    def describe(self, x: float, t: datetime | float, unit: str = "") -> Message | None:
        """What the latest scored value means, as a message (:mod:`resilience.detection.explain`); None if
        there is nothing to say. Subclasses override this, not :meth:`explain`."""
        return None

    def explain(self, x: float, t: datetime | float, unit: str = "") -> str:
        """A sentence a duty officer understands (the English of :meth:`describe`); empty if nothing to say."""
        return render_en(self.describe(x, t, unit))

    def forget_recent(self) -> None:
        """Drop short-term memory (recent runs, rate windows) of readings that were not real data.

        Called when a sensor comes back from a stuck run: its frozen value must not be compared with the
        first real reading after it (that jump is the repair, not an event). Long-term baselines stay.
        """
        return None  # a detector without short-term memory has nothing to forget

    def _reset(self) -> None:
        """Create the learned state (attributes ending in ``_``)."""
        return None  # a stateless detector has none

    # -- parameters, cloning, snapshots ----------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` arguments, read back from attributes of the same name."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def clone(self: D) -> D:
        """A fresh, unfitted detector with the same parameters."""
        return type(self)(**self.get_params())

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot: detector type, parameters and every learned ``_`` attribute."""
        learned = {k: _encode(v) for k, v in vars(self).items() if k.endswith("_") and not k.startswith("__")}
        return {"type": self.name, "params": _encode(self.get_params()), "state": learned}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Detector:
        """Rebuild a detector from :meth:`to_state` output; its next scores equal the original's."""
        det_cls = _REGISTRY[state["type"]]
        det = det_cls(**_decode(state["params"]))
        det.load_state(state)
        return det

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore learned attributes in place (parameters must match)."""
        for k, v in state["state"].items():
            value, like = _decode(v), getattr(self, k, None)
            if isinstance(like, array) and not isinstance(value, array):  # saved before it was an array
                value = array(like.typecode, value)
            setattr(self, k, value)

    # -- compact state (the detection worker's binary snapshot parts) ----------------------------
    def learned_names(self) -> tuple[str, ...]:
        """Names of the learned attributes, in the order :meth:`compact_state` lists their values (the same
        for every instance of a class: ``_reset`` creates them all)."""
        names = _LEARNED.get(type(self))
        if names is None:
            names = _LEARNED[type(self)] = tuple(
                sorted(k for k in vars(self) if k.endswith("_") and not k.startswith("__"))
            )
        return names

    def compact_state(self, views: bool = False) -> list[Any]:
        """The learned values only (no parameters, no names), as msgpack-ready values: arrays as their bytes,
        deques and tuples as lists. A few hundred bytes per detector where :meth:`to_state` gives kilobytes.

        With ``views`` arrays come as memoryviews of the live arrays instead of copies: pack them at once
        (the array cannot grow while a view of it exists, and the view sees every later change).
        """
        return [_compact(getattr(self, k), views) for k in self.learned_names()]

    def load_compact_state(self, values: list[Any]) -> None:
        """Restore what :meth:`compact_state` gave, into a detector built with the same parameters (each
        value takes the type of the fresh attribute it replaces: array, deque of the same ``maxlen`` ...)."""
        names = self.learned_names()
        if len(values) != len(names):
            raise ValueError(f"{self.name}: {len(values)} learned values for {len(names)} attributes")
        for k, v in zip(names, values, strict=True):
            setattr(self, k, _uncompact(v, getattr(self, k)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


@runtime_checkable
class GradedDetector(Protocol):
    """A detector whose limits come from a standard, so it can say which alarm level a reading reaches."""

    name: ClassVar[str]

    def graded_level(self, x: float, t: datetime | float) -> Level:
        """The alarm level ``x`` at ``t`` reaches (``Level.NONE`` below the lowest limit)."""
        ...

    def describe(self, x: float, t: datetime | float, unit: str = "") -> Message | None:
        """Which limit was reached, as :meth:`Detector.describe`: the ensemble explains a level with it."""
        ...


@runtime_checkable
class FollowsRecent(Protocol):
    """A detector with short-term memory (recent runs, rate windows) that must follow an anomalous signal.

    While a reading is held out of the baseline (it is anomalous), ``learn_recent`` still moves the
    short-term state, so a rate or run is measured against the last readings and not against old ones.
    """

    def learn_recent(self, x: float, t: datetime | float) -> None:
        """Update only the short-term state with ``x`` at ``t``."""
        ...


def detector_class(name: str) -> type[Detector]:
    """Look a detector class up by its registry ``name`` (as used in ensemble configs)."""
    return _REGISTRY[name]


def registered_detectors() -> dict[str, type[Detector]]:
    """All registered detector classes, by name (import ``resilience.detection`` to populate)."""
    return dict(_REGISTRY)
