"""What every LightGBM model of the project shares: settings chosen for reproducibility on
2 cores, and the estimator plumbing of KernelWalkedModel."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from sklearn.utils import check_consistent_length, column_or_1d
from sklearn.utils.validation import check_is_fitted, validate_data

from recommender._trees import Trees

# LightGBM learns on one thread. On an idle 2-core machine three fits of 300 trees on 12,000
# rows took 1.0 s on two threads, 1.7 s on one; but two processes doing so side by side
# (racing retrains, two notebooks) took 8.1 s each on two threads, 1.6 s on one: each spins
# waiting for a core the other holds. A fixed count also keeps the model the same on any
# machine (one and two threads gave the same model in tests/modeling/test_trees.py).
THREADS = 1


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
        "n_jobs": THREADS,
        "verbose": -1,
    }
    params.update(overrides)
    return params


class Checked(NamedTuple):
    """Features already checked as the models check predict's input, and converted for the
    trees (Trees.matrix): models fitted on the same features read it as it is, so a
    caller scoring with several of them checks and converts once (Recommender)."""

    matrix: np.ndarray


class KernelWalkedModel:
    """What the project's LightGBM estimators share: NaN features allowed (LightGBM learns
    where unknown values go), inputs checked against fit's, trees walked by the compiled
    kernel (trees.py), contributions and gain importance.

    Mix in before scikit-learn's BaseEstimator; `fit` sets `model_` (a LightGBM model)
    and calls `_walk_trees`.
    """

    model_: Any
    trees_: Trees

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.allow_nan = True
        return tags

    def checked(self, X: Any) -> Checked:
        """X checked as predict checks it and converted for the trees, once for every model
        fitted on the same features: each of them then takes the result in place of X."""
        check_is_fitted(self, "trees_")
        return Checked(self.trees_.matrix(self._checked(X)))

    def contributions(self, X: Any) -> np.ndarray:
        """Per-feature contributions to the raw prediction (last column: the bias)."""
        check_is_fitted(self, "trees_")
        return self.trees_.contributions(self._checked(X))[1]

    def feature_importance(self) -> np.ndarray:
        """Split gain per feature."""
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.booster_.feature_importance("gain"), dtype=float)

    def _fit_input(self, X: Any, y: Any, *others: Any) -> tuple[np.ndarray, np.ndarray]:
        """X as floats (NaN allowed) and y as one column, of the same length as `others`."""
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64)
        target = column_or_1d(y, warn=True)
        check_consistent_length(X, target, *others)
        return X, target

    def _walk_trees(self) -> None:
        self.trees_ = Trees.from_lightgbm(self.model_.booster_)

    def _raw(self, X: Any) -> np.ndarray:
        """The sum of the trees' leaf values for each row of X."""
        check_is_fitted(self, "trees_")
        return self.trees_.predict(self._checked(X))

    def _checked(self, X: Any) -> np.ndarray:
        if isinstance(X, Checked):
            return X.matrix
        checked: np.ndarray = validate_data(
            self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64
        )
        return checked
