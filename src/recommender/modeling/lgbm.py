"""LightGBM settings shared by every model, chosen for reproducibility on 2 cores."""

from __future__ import annotations

from typing import Any


def lgbm_params(random_state: int | None, **overrides: Any) -> dict[str, Any]:
    """Parameters for LGBMRegressor/LGBMRanker: same seed and data give the same model."""
    params: dict[str, Any] = {
        # Shallow trees: as accurate here as deeper ones (benchmarks/model_quality.py),
        # and scoring and its per-row contributions cost grows with depth.
        "n_estimators": 300,
        "learning_rate": 0.04,
        "num_leaves": 15,
        "max_depth": 4,
        "min_child_samples": 50,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "random_state": random_state,
        "deterministic": True,
        "force_row_wise": True,
        "n_jobs": 2,
        "verbose": -1,
    }
    params.update(overrides)
    return params
