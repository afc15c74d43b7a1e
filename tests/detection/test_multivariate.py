from __future__ import annotations

import numpy as np
import pytest

from resilience.detection.multivariate import AssetModel, dump_model, load_model


def _history(n=800, seed=0):
    rng = np.random.default_rng(seed)
    flow = rng.normal(100, 10, n)
    pressure = 0.5 - 0.002 * flow + rng.normal(0, 0.004, n)
    return np.c_[flow, pressure]


@pytest.mark.parametrize(("method", "quantile"), [("pca", 0.99), ("iforest", 0.95)])
def test_fit_dump_load_round_trip(method, quantile):
    X = _history()
    model = AssetModel(method=method, quantile=quantile, random_state=0).fit(X)
    burst = np.array([[100.0, 0.2]])  # normal flow, pressure far too low for it
    normal = np.array([[100.0, 0.3]])
    assert model.anomaly_score(burst)[0] > 0.5 > model.anomaly_score(normal)[0]
    blob = dump_model(model)
    assert isinstance(blob, bytes)
    again = load_model(blob)
    assert again.version_ == model.version_ and again.version_.startswith(method)
    np.testing.assert_array_equal(again.score_samples(X[:50]), model.score_samples(X[:50]))


def test_refit_forgets_and_version_tracks_data():
    a = AssetModel(random_state=0).fit(_history(seed=0))
    v0 = a.version_
    a.fit(_history(seed=1))
    assert a.version_ != v0


def test_load_rejects_foreign_blob():
    import pickle

    with pytest.raises(ValueError):
        load_model(pickle.dumps({"format": "other"}))
