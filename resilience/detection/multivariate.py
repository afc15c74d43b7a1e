"""Per-asset multivariate model over the asset's sensors (batch, scikit-learn API).

Single sensors miss incidents that only show in the relation between channels: a water-main burst is a
flow step up *with* a pressure drop, each of which alone is within its daily range. ``AssetModel`` is
fitted on an asset's history (rows = time, columns = sensors) with either PCA (Hotelling T² plus the
residual Q statistic) or an IsolationForest, and scores new rows in [0, 1].

Persistence: :func:`dump_model` returns bytes (the lead stores them in ``ml_models(asset_id, version,
created_at, blob)``), :func:`load_model` reads them back and refuses an incompatible format.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from resilience.detection.model_blobs import pack_model, unpack_model

#: Bump when the pickled layout changes; :func:`load_model` rejects blobs of another format.
MODEL_FORMAT = "resilience.asset_model/1"


class AssetModel(BaseEstimator):
    """Multivariate anomaly model for one asset.

    Parameters
    ----------
    method
        ``"pca"`` (T² + Q, explainable by channel) or ``"iforest"``.
    n_components
        PCA components kept (fraction of variance if < 1).
    n_estimators
        Trees for the IsolationForest.
    quantile
        Training-score quantile that maps to anomaly score 0.5 (1 % of normal rows cross it).
    random_state
        Seed; stored unchanged, used through ``check_random_state`` in ``fit``.

    Attributes
    ----------
    version_ : str
        Content hash of the fitted model, used as the ``ml_models.version``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> flow = rng.normal(100, 5, 500)
    >>> X = np.c_[flow, 0.5 - 0.001 * flow + rng.normal(0, 0.002, 500)]
    >>> model = AssetModel(random_state=0).fit(X)
    >>> s = model.anomaly_score(np.array([[100.0, 0.4], [130.0, 0.5]]))
    >>> bool(s[0] < 0.5 < s[1])
    True
    """

    def __init__(
        self,
        method: str = "pca",
        n_components: float | int = 0.95,
        n_estimators: int = 100,
        quantile: float = 0.99,
        random_state: int | None = None,
    ) -> None:
        self.method = method
        self.n_components = n_components
        self.n_estimators = n_estimators
        self.quantile = quantile
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> AssetModel:
        """Learn normal behaviour from history ``X`` (n_samples, n_sensors); returns self."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] < 10:
            raise ValueError("AssetModel.fit needs a 2-D array with at least 10 rows")
        rng = check_random_state(self.random_state)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        if self.method == "pca":
            n_comp = self.n_components
            if isinstance(n_comp, int):
                n_comp = min(n_comp, X.shape[1])
            self.pca_ = PCA(n_components=n_comp, random_state=rng).fit(Z)
        elif self.method == "iforest":
            self.forest_ = IsolationForest(n_estimators=self.n_estimators, random_state=rng).fit(Z)
        else:
            raise ValueError(f"unknown method {self.method!r}; use 'pca' or 'iforest'")
        self.n_features_in_ = X.shape[1]
        raw = self._raw(X)
        self.median_ = float(np.median(raw))
        self.reference_ = max(float(np.quantile(raw, self.quantile)), self.median_ + 1e-12)
        digest = hashlib.sha256(pickle.dumps((self.get_params(), self.scaler_.mean_, self.reference_))).hexdigest()
        self.version_ = f"{self.method}-{digest[:12]}"
        return self

    def _raw(self, X: np.ndarray) -> np.ndarray:
        Z = self.scaler_.transform(X)
        if self.method == "iforest":
            return -self.forest_.score_samples(Z)
        scores = self.pca_.transform(Z)
        t2 = np.sum(scores**2 / np.maximum(self.pca_.explained_variance_, 1e-12), axis=1)
        q = np.sum((Z - self.pca_.inverse_transform(scores)) ** 2, axis=1)
        return t2 / Z.shape[1] + q

    def score_samples(self, X: Any) -> np.ndarray:
        """scikit-learn convention: the lower, the more abnormal (negative raw statistic)."""
        check_is_fitted(self, "version_")
        return -self._raw(np.asarray(X, dtype=float))

    def anomaly_score(self, X: Any) -> np.ndarray:
        """Scores in [0, 1], high = anomalous: 0 at the training median, 0.5 at the training ``quantile``."""
        check_is_fitted(self, "version_")
        raw = self._raw(np.asarray(X, dtype=float))
        ratio = np.maximum((raw - self.median_) / (self.reference_ - self.median_), 0.0)
        return np.clip(ratio / (1.0 + ratio), 0.0, 1.0)

    def contributions(self, x: Any) -> np.ndarray:
        """Per-sensor share of one row's squared standardised deviation (to name the odd channel)."""
        check_is_fitted(self, "version_")
        z = self.scaler_.transform(np.asarray(x, dtype=float).reshape(1, -1))[0]
        total = float(np.sum(z**2)) or 1.0
        return z**2 / total


def dump_model(model: AssetModel) -> bytes:
    """Serialise a fitted model with its format tag and version, for the ``ml_models.blob`` column."""
    check_is_fitted(model, "version_")
    return pack_model(MODEL_FORMAT, model.version_, model)


def load_model(blob: bytes) -> AssetModel:
    """Inverse of :func:`dump_model`. Only load blobs from our own database: pickle runs code."""
    return unpack_model(blob, MODEL_FORMAT, AssetModel, lambda m: str(m.version_))
