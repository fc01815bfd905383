"""Sales lift: return per dollar, with a loss suited to noisy, heavy-tailed measurements.

The model learns lift per dollar of cost (`roi = sales_lift_usd / cost_usd`),
which puts a $20 nano post and a $20,000 mega post on one scale, on an
asinh scale (linear near zero, logarithmic in the tails, defined for the
negative lifts that measurement noise produces). Expected lift is then
`roi * cost`. Intervals come from quantile models on the same scale
(quantiles survive monotone transforms), widened by split-conformal
calibration (CQR) on held-out campaigns so their coverage is what it claims.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.base import BaseEstimator, RegressorMixin

from recommender.modeling.lgbm import lgbm_params
from recommender.modeling.trees import Trees

LOSSES = ("l2", "huber", "fair", "l1")


class ReturnRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Predicts return per dollar; `predict` gives the point estimate in dollars per dollar.

    `loss` is LightGBM's objective on the asinh scale (l2, huber, fair, l1, or
    quantile with `alpha`). `scale` sets where asinh turns logarithmic; by
    default the median absolute return of the training data.
    """

    def __init__(
        self,
        loss: str = "l2",
        alpha: float = 0.5,
        scale: float | None = None,
        random_state: int | None = 0,
        n_estimators: int = 300,
        learning_rate: float = 0.04,
    ) -> None:
        self.loss = loss
        self.alpha = alpha
        self.scale = scale
        self.random_state = random_state
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate

    def fit(self, X: pd.DataFrame, y: Any) -> ReturnRegressor:
        target = np.asarray(y, dtype=float)
        finite = np.isfinite(target)
        self.scale_ = float(self.scale or max(np.median(np.abs(target[finite])) / 5, 1e-6))
        extra: dict[str, Any] = {"objective": self.loss}
        if self.loss == "quantile":
            extra["alpha"] = self.alpha
        self.model_ = LGBMRegressor(
            **lgbm_params(
                self.random_state,
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                **extra,
            )
        )
        self.model_.fit(X[finite], np.arcsinh(target[finite] / self.scale_))
        self.n_features_in_ = X.shape[1]
        self.trees_ = Trees.from_lightgbm(self.model_.booster_)
        return self

    def predict_transformed(self, X: pd.DataFrame) -> np.ndarray:
        return self.trees_.predict(X)

    def to_return(self, transformed: np.ndarray) -> np.ndarray:
        return np.asarray(np.sinh(transformed) * self.scale_, dtype=float)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.to_return(self.predict_transformed(X))

    def feature_importance(self) -> np.ndarray:
        """Split gain per feature."""
        return np.asarray(self.model_.booster_.feature_importance("gain"), dtype=float)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Per-feature contributions to the prediction on the model's scale (last column: bias)."""
        return self.trees_.contributions(X)[1]


def mean_calibration(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Factor c so that c * predicted has the mean of measured (fitted out of sample).

    A model fitted on a transformed scale predicts something like a median; the
    plan and the ROI need means. One factor keeps the order of predictions.
    """
    predicted = np.asarray(predicted, dtype=float)
    measured = np.asarray(measured, dtype=float)
    ok = np.isfinite(predicted) & np.isfinite(measured)
    total = float(np.sum(predicted[ok]))
    if not ok.any() or total <= 0:
        return 1.0
    return float(np.clip(np.sum(measured[ok]) / total, 0.1, 10.0))


def conformal_margin(
    low: np.ndarray, high: np.ndarray, measured: np.ndarray, coverage: float
) -> float:
    """CQR: how far to widen [low, high] (on the model's scale) to reach `coverage`.

    Computed from held-out rows; negative when the raw band is too wide.
    """
    score = np.maximum(low - measured, measured - high)
    score = score[np.isfinite(score)]
    if score.size == 0:
        return 0.0
    level = min(1.0, coverage * (1 + 1 / score.size))
    return float(np.quantile(score, level, method="higher"))
