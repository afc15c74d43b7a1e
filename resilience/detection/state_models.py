"""Multivariate *state* monitoring: an alarm that opens when a plant leaves normal operation, holds while out,
and closes once it is back.

Point detectors (z-scores, PCA T² on single rows) flag the first samples of a fault and then flicker: a closed
valve or a leaking main is a sustained state, and the control loops partly hide it, so the per-row statistic
wanders around its limit. Two things fix that here:

* :class:`CanonicalVariateStateModel` - canonical variate analysis (CVA) of the lagged measurements. The past
  window ``[x_t, x_{t-1}, ..., x_{t-p+1}]`` is whitened and projected on the directions that best predict the
  future, giving a state statistic T²s, a residual-variate statistic T²r and the residual Q (SPE) of the past
  window. Whitening makes small but persistent shifts of low-variance directions count as much as large ones
  (plain PCA buries them), and each statistic is smoothed by an EWMA so a persistent small shift accumulates.
* :class:`HeldAlarm` - persistence with hysteresis: opens after ``open_after`` consecutive samples above the
  limit, holds while the statistic stays above a lower release level ``clear_level``, and *closes* after a
  dwell of ``clear_after`` consecutive samples below it, so a state that ends also ends its alarm.

Limits come from training data only, never from a run that is later scored: the statistics of each contiguous
block of the training window are computed by a model fitted without that block (out of fold, so they are fresh
data and show the drift between blocks), and each limit is the larger of a scaled-χ² tail fitted to them and,
when the window is long enough, their split-conformal quantile, at a per-row tail of ``false_alarm_rate``
shared among the watched statistics. Nothing is bisected against an observed alarm count: a few hundred rows
hold too few alarm episodes to estimate a 0.1 % budget, and the bisection used to settle on "just above the
largest excursion seen", which did not hold on fresh data.

A window that is not one normal state is refused (:class:`ContaminatedWindowError`): fitted on either half of
the window, the model must find the other half normal. Scoring never reads labels and never looks ahead: the
score of sample t uses samples <= t only (:meth:`CanonicalVariateStateModel.score_one` streams,
:meth:`~.transform` is its batch twin).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

STATISTICS = ("t2_state", "t2_residual", "q")
#: Share of one half of a training window that may lie outside the normal region learnt from the other half
#: before the window is refused. Normal windows stay far below (the tests' synthetic processes and TEP's
#: d00.dat: <= 3 %); a window whose majority is a fault state puts most of one half outside.
MAX_ABNORMAL_SHARE = 0.2


class ContaminatedWindowError(ValueError):
    """The training window is not one normal state; ``str()`` says why (what share of which half is out)."""

    def __init__(self, reason: str, shares: tuple[float, float]) -> None:
        super().__init__(reason)
        self.shares = shares


@dataclass
class HeldAlarm:
    """Streaming persistence + hysteresis rule over a limit-normalised statistic (1.0 = at the control limit).

    A single crossing does not open the alarm (noise), and a dip below the limit does not close it (a sustained
    fault hovers around its limit): it opens after ``open_after`` consecutive values > 1, stays open while the
    value is above ``clear_level`` and closes after ``clear_after`` consecutive values <= ``clear_level``.
    """

    open_after: int = 2
    clear_after: int = 3
    clear_level: float = 0.8
    active: bool = False
    _run: int = field(default=0, repr=False)

    def update(self, ratio: float) -> bool:
        """Feed one value; returns whether the alarm is on for this sample."""
        if not self.active:
            self._run = self._run + 1 if ratio > 1.0 else 0
            if self._run >= self.open_after:
                self.active, self._run = True, 0
        else:
            self._run = self._run + 1 if ratio <= self.clear_level else 0
            if self._run >= self.clear_after:
                self.active, self._run = False, 0
        return self.active

    def reset(self) -> None:
        """Back to the closed state (e.g. after the operator acknowledged a repaired fault)."""
        self.active, self._run = False, 0

    def run(self, ratios: np.ndarray) -> np.ndarray:
        """Batch form: the alarm state after each value, starting from the current state."""
        return np.fromiter((self.update(float(r)) for r in ratios), dtype=bool, count=len(ratios))


def _inv_sqrt(S: np.ndarray, ridge: float) -> np.ndarray:
    """S^(-1/2) with a ridge relative to the mean eigenvalue (lagged TEP covariances are near-singular)."""
    w, V = np.linalg.eigh(S + ridge * np.trace(S) / len(S) * np.eye(len(S)))
    return (V / np.sqrt(np.maximum(w, 1e-12))) @ V.T


def _past(Z: np.ndarray, p: int) -> np.ndarray:
    """Rows ``[z_t, z_{t-1}, ..., z_{t-p+1}]`` for t = p-1 .. n-1 (current sample first; no look-ahead)."""
    n = len(Z)
    return np.hstack([Z[p - 1 - j : n - j] for j in range(p)])


def _normal_upper_quantile(tail: float) -> float:
    """z with P(N(0,1) > z) = tail, by bisection on erfc (numpy/math only)."""
    lo, hi = -10.0, 40.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if 0.5 * math.erfc(mid / math.sqrt(2.0)) > tail else (lo, mid)
    return 0.5 * (lo + hi)


def _chi2_quantile(dof: np.ndarray, tail: float) -> np.ndarray:
    """Upper-``tail`` quantile of χ²(dof), Wilson-Hilferty approximation (accurate to ~1 % for dof >= 1)."""
    z = _normal_upper_quantile(tail)
    c = 2.0 / (9.0 * dof)
    return dof * np.maximum(1.0 - c + z * np.sqrt(c), 0.0) ** 3


def _ewma(x: np.ndarray, lam: float, start: np.ndarray) -> np.ndarray:
    """Column-wise EWMA started at ``start`` (the in-control mean), so the first samples are not special."""
    out = np.empty_like(x)
    s = start.astype(float).copy()
    for i, row in enumerate(x):
        s = lam * row + (1.0 - lam) * s
        out[i] = s
    return out


class CanonicalVariateStateModel(BaseEstimator):
    """CVA state model with EWMA-smoothed T²s / T²r / Q and a held alarm calibrated on normal data.

    Parameters
    ----------
    past, future
        Lags in the past window (current sample included) and in the future window used only to find the
        predictive directions at fit time.
    n_states
        Canonical variates kept as the state (T²s); the remaining ones form T²r.
    ewma
        EWMA weight of the newest statistic (1.0 = no smoothing).
    false_alarm_rate
        Budget: the share of normal rows on which a watched statistic may exceed its limit, split evenly among
        the watched statistics (the held alarm then needs ``open_after`` such rows in a row to open).
    open_after, clear_after, clear_level
        :class:`HeldAlarm` settings: rows above the limit to open, rows of dwell below the release level to
        close, and the release level as a fraction of the control limit.
    n_folds
        Contiguous blocks of the training data for the out-of-fold limits.
    ridge
        Relative ridge on the covariance matrices.
    clip
        If set, each raw statistic is capped at ``clip`` times its control limit before the EWMA, so the alarm
        clears within a few samples of the fault's end instead of waiting for a huge excursion to decay
        (calibration ignores the cap, which only shortens alarms: the false-alarm estimate stays conservative).
    statistics
        Which of ``STATISTICS`` raise the alarm (all three by default: a fault that moves the state itself and
        holds it there shows in T²s, while the residuals settle once the step is over).

    Attributes
    ----------
    limits_ : ndarray of shape (3,)
        Control limits of the smoothed (T²s, T²r, Q); :meth:`transform` divides by them.
    tail_ : float
        Per-row tail probability of each statistic's limit (``false_alarm_rate`` over the watched statistics).
    oof_alarm_rate_ : float
        Share of the out-of-fold training rows the held alarm flags with these limits (a training-only check).
    window_shares_ : tuple of float, or None
        Share of each half of the training window flagged by a model fitted on the other half (None: the window
        was too short to split, or the check was switched off).
    center_ : ndarray of shape (3,)
        Out-of-fold mean of each statistic, where the EWMA starts.
    """

    def __init__(
        self,
        past: int = 3,
        future: int = 3,
        n_states: int = 30,
        ewma: float = 0.2,
        false_alarm_rate: float = 0.01,
        open_after: int = 2,
        clear_after: int = 3,
        clear_level: float = 0.8,
        n_folds: int = 5,
        ridge: float = 1e-3,
        statistics: tuple[str, ...] = STATISTICS,
        clip: float | None = None,
    ) -> None:
        self.past = past
        self.future = future
        self.n_states = n_states
        self.ewma = ewma
        self.false_alarm_rate = false_alarm_rate
        self.open_after = open_after
        self.clear_after = clear_after
        self.clear_level = clear_level
        self.n_folds = n_folds
        self.ridge = ridge
        self.statistics = statistics
        self.clip = clip

    # -- fitting ---------------------------------------------------------------------------------
    def _fit_projection(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Scaler, CVA projection J and past-from-state loadings L, from normal rows X only."""
        mean, std = X.mean(axis=0), X.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        Z = (X - mean) / std
        p, f, n = self.past, self.future, len(Z)
        P = _past(Z, p)[: n - p + 1 - f]
        F = np.hstack([Z[p + j : n - f + 1 + j] for j in range(f)])
        m = len(P) - 1
        Spp, Sff, Spf = P.T @ P / m, F.T @ F / m, P.T @ F / m
        Wp = _inv_sqrt(Spp, self.ridge)
        U, _, _ = np.linalg.svd(Wp @ Spf @ _inv_sqrt(Sff, self.ridge))
        J = U.T @ Wp
        k = min(self.n_states, J.shape[0])
        return {"mean": mean, "std": std, "J": J, "L": Spp @ J[:k].T}

    def _raw_stats(self, proj: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
        """Unsmoothed (T²s, T²r, Q) for rows p-1 .. n-1 of X."""
        P = _past((X - proj["mean"]) / proj["std"], self.past)
        C = P @ proj["J"].T
        k = proj["L"].shape[1]
        resid = P - C[:, :k] @ proj["L"].T
        return np.column_stack([np.sum(C[:, :k] ** 2, 1), np.sum(C[:, k:] ** 2, 1), np.sum(resid**2, 1)])

    def _out_of_fold(self, X: np.ndarray) -> np.ndarray:
        """Statistics of each contiguous block scored by a model fitted on the other blocks, in time order.

        Kept as one series so the EWMA and the held alarm run across block boundaries as they would on a
        long fresh run (short independent blocks would cut every long excursion short and look optimistic).
        """
        blocks = np.array_split(np.arange(len(X)), self.n_folds)
        out = []
        for b in blocks:
            keep = np.ones(len(X), dtype=bool)
            keep[b] = False
            proj = self._fit_projection(X[keep])
            out.append(self._raw_stats(proj, X[b]))
        return np.vstack(out)

    def fit(self, X: Any, y: Any = None, *, screen_window: bool = True) -> CanonicalVariateStateModel:
        """Learn normal operation from rows X (n_samples, n_variables); ``y`` is ignored (no labels).

        Raises :class:`ContaminatedWindowError` if ``screen_window`` and X is not one normal state (see
        :meth:`check_window`): a model fitted on a fault learns the fault as normal and never alarms on it.
        """
        X = np.asarray(X, dtype=float)
        min_rows = self._min_rows()
        if X.ndim != 2 or len(X) < min_rows:
            raise ValueError(f"fit needs a 2-D array with at least {min_rows} rows")
        unknown = set(self.statistics) - set(STATISTICS)
        if unknown or not self.statistics:
            raise ValueError(f"statistics must be a non-empty subset of {STATISTICS}, got {self.statistics!r}")
        self.window_shares_ = self.check_window(X) if screen_window else None
        self.columns_ = [STATISTICS.index(name) for name in self.statistics]
        oof = self._out_of_fold(X)
        self.center_ = np.mean(oof, axis=0)
        smoothed = _ewma(oof, self.ewma, self.center_)
        self.tail_, self.limits_ = self._calibrate(smoothed)
        self.oof_alarm_rate_ = float(np.mean(self._alarm().run(np.max((smoothed / self.limits_)[:, self.columns_], 1))))
        self.projection_ = self._fit_projection(X)
        self.n_features_in_ = X.shape[1]
        self._start_stream()
        return self

    def _min_rows(self) -> int:
        return self.n_folds * (self.past + self.future + 10)

    def check_window(self, X: Any, max_share: float = MAX_ABNORMAL_SHARE) -> tuple[float, float] | None:
        """Shares of each half of X that a model fitted on the other half flags; refuses a mixed window.

        Raises :class:`ContaminatedWindowError` when either share exceeds ``max_share``. Both directions,
        because a fault at the start or at the end of the window shows in only one of them. None if a half is
        too short to fit on (nothing checked).
        """
        X = np.asarray(X, dtype=float)
        half = len(X) // 2
        if half < self._min_rows():
            return None
        first, second = X[:half], X[half:]
        shares = tuple(
            float(np.mean(clone(self).fit(a, screen_window=False).predict(b)))
            for a, b in ((first, second), (second, first))
        )
        pair = (shares[0], shares[1])
        if max(pair) > max_share:
            which = "second" if pair[0] >= pair[1] else "first"
            raise ContaminatedWindowError(
                f"training window of {len(X)} rows is not one normal state: {max(pair):.0%} of its {which} half lies "
                f"outside the normal region learnt from the other half (limit {max_share:.0%}), "
                "so no model is fitted on it (a fault in the window, or a window too short to cover its normal cycle)",
                pair,
            )
        return pair

    def _calibrate(self, smoothed: np.ndarray) -> tuple[float, np.ndarray]:
        """Per-statistic limits at a per-row tail of ``false_alarm_rate`` / (watched statistics), from the
        out-of-fold statistics alone.

        Each limit is the larger of (a) a scaled chi-square g·χ²(h) matched to the mean and variance of the
        statistic (Box's approximation, as for the usual Q limit), which extrapolates the tail beyond the rows
        seen, and (b) its split-conformal quantile (the ⌈(n+1)(1-tail)⌉-th smallest of n out-of-fold values),
        which guarantees the tail on exchangeable fresh rows whenever n is large enough to have that rank.
        """
        tail = self.false_alarm_rate / len(self.statistics)
        # floors: a statistic that is identically 0 in training (a sensor that never moved) gets a tiny limit
        mean, var = np.maximum(smoothed.mean(axis=0), 1e-12), np.maximum(smoothed.var(axis=0), 1e-12)
        g, h = var / (2.0 * mean), 2.0 * mean**2 / var
        limits = np.maximum(g * _chi2_quantile(h, tail), 1e-12)
        rank = math.ceil((len(smoothed) + 1) * (1.0 - tail))
        if rank <= len(smoothed):
            limits = np.maximum(limits, np.sort(smoothed, axis=0)[rank - 1])
        return tail, limits

    def _alarm(self) -> HeldAlarm:
        return HeldAlarm(self.open_after, self.clear_after, self.clear_level)

    # -- batch scoring (scikit-learn style) ------------------------------------------------------
    def transform(self, X: Any) -> np.ndarray:
        """EWMA-smoothed statistics over their control limits, shape (n, 3); the first p-1 rows are 0."""
        check_is_fitted(self, "limits_")
        X = np.asarray(X, dtype=float)
        out = np.zeros((len(X), len(STATISTICS)))
        if len(X) >= self.past:
            raw = self._capped(self._raw_stats(self.projection_, X))
            out[self.past - 1 :] = _ewma(raw, self.ewma, self.center_) / self.limits_
        return out

    def _capped(self, raw: np.ndarray) -> np.ndarray:
        return raw if self.clip is None else np.minimum(raw, self.clip * self.limits_)

    def ratio(self, X: Any) -> np.ndarray:
        """The worst statistic over its limit per row: > 1 means outside normal operation."""
        return np.max(self.transform(X)[:, self.columns_], axis=1)

    def score_samples(self, X: Any) -> np.ndarray:
        """scikit-learn convention: the lower, the more abnormal."""
        return -self.ratio(X)

    def predict(self, X: Any) -> np.ndarray:
        """Held alarm per row (True = fault state), run from a closed alarm at the first row."""
        return self._alarm().run(self.ratio(X))

    # -- streaming (River style) -----------------------------------------------------------------
    def _start_stream(self) -> None:
        self.window_: deque[np.ndarray] = deque(maxlen=self.past)
        self.smoothed_ = self.center_.copy()
        self.alarm_ = self._alarm()
        self.last_ratio_ = 0.0
        self.last_raw_ratio_ = 0.0
        self._past_mean = np.tile(self.projection_["mean"], self.past)
        self._past_std = np.tile(self.projection_["std"], self.past)

    def reset_stream(self) -> None:
        """Forget the streaming window, EWMA and alarm (start of a new, unrelated run)."""
        check_is_fitted(self, "limits_")
        self._start_stream()

    def _raw_one(self, window: np.ndarray) -> np.ndarray:
        """(T²s, T²r, Q) of one past window ``[x_t, x_{t-1}, ...]``: :meth:`_raw_stats` for a single row, without
        building the lagged matrix (the detector runs this once per asset and minute)."""
        proj = self.projection_
        p = (window - self._past_mean) / self._past_std
        c = proj["J"] @ p
        k = proj["L"].shape[1]
        resid = p - proj["L"] @ c[:k]
        return np.array([c[:k] @ c[:k], c[k:] @ c[k:], resid @ resid])

    def learn_one(self, x: Any) -> None:
        """Advance the streaming state with one row (the model itself stays fitted on normal data only)."""
        self.score_one(x)

    def score_one(self, x: Any) -> float:
        """Score in [0, 1] of the newest row, 0.5 at the control limit; updates window, EWMA and alarm."""
        check_is_fitted(self, "limits_")
        self.window_.appendleft(np.asarray(x, dtype=float).ravel())
        ratio = 0.0
        if len(self.window_) == self.past:
            raw = self._raw_one(np.concatenate(self.window_))
            self.last_raw_ratio_ = float(np.max((raw / self.limits_)[self.columns_]))
            self.smoothed_ = self.ewma * self._capped(raw) + (1.0 - self.ewma) * self.smoothed_
            ratio = float(np.max((self.smoothed_ / self.limits_)[self.columns_]))
        self.last_ratio_ = ratio
        self.alarm_.update(ratio)
        return ratio / (1.0 + ratio)

    @property
    def alarm_active(self) -> bool:
        """Whether the streaming held alarm is on after the last :meth:`score_one`."""
        return bool(self.alarm_.active)

    def contributions(self) -> np.ndarray:
        """Each variable's share of the residual (Q) of the current streaming window, summed over its lags.

        Names the sensors that left the normal relation; zeros until the window is full.
        """
        check_is_fitted(self, "limits_")
        m = self.n_features_in_
        if len(self.window_) < self.past:
            return np.zeros(m)
        proj = self.projection_
        window = np.vstack(list(self.window_)[::-1])
        P = _past((window - proj["mean"]) / proj["std"], self.past)[0]
        k = proj["L"].shape[1]
        resid = P - (P @ proj["J"][:k].T) @ proj["L"].T
        per_variable = np.sum(resid.reshape(self.past, m) ** 2, axis=0)
        total = float(per_variable.sum()) or 1.0
        return per_variable / total

    def stream_state(self) -> dict[str, Any]:
        """JSON-ready streaming state (window, EWMA, alarm), so a restarted worker scores on where it left off."""
        check_is_fitted(self, "limits_")
        return {
            "window": [w.tolist() for w in self.window_],
            "smoothed": self.smoothed_.tolist(),
            "active": bool(self.alarm_.active),
            "run": int(self.alarm_._run),
            "ratio": float(self.last_ratio_),
            "raw_ratio": float(self.last_raw_ratio_),
        }

    def load_stream_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`stream_state`; a state of another shape is refused (it belongs to another model)."""
        check_is_fitted(self, "limits_")
        window = [np.asarray(w, dtype=float) for w in state["window"]]
        smoothed = np.asarray(state["smoothed"], dtype=float)
        if (
            len(window) > self.past
            or any(w.shape != (self.n_features_in_,) for w in window)
            or smoothed.shape != self.smoothed_.shape
        ):
            raise ValueError("stream state does not fit this model")
        self._start_stream()
        self.window_.extend(window)
        self.smoothed_ = smoothed
        self.alarm_.active, self.alarm_._run = bool(state["active"]), int(state["run"])
        self.last_ratio_ = float(state["ratio"])
        self.last_raw_ratio_ = float(state["raw_ratio"])
