"""Sales lift: return per dollar, with a loss suited to noisy, heavy-tailed measurements.

The model learns lift per dollar of cost (`measured_return`: sales_lift_usd /
cost), which puts a $20 nano post and a $20,000 mega post on one scale, on an
asinh scale (linear near zero, logarithmic in the tails, defined for the
negative lifts that measurement noise produces). Expected lift is then
`return * cost`. Intervals come from quantile models on the same scale
(quantiles survive monotone transforms), widened by split-conformal
calibration (CQR) on held-out campaigns so their coverage is what it claims.

This module owns that scale: `return_scale` chooses it, `to_model_scale` and
`from_model_scale` cross it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from recommender.modeling._lgbm import KernelWalkedModel, lgbm_params
from recommender.modeling.prior import MarketingPrior

LOSSES = ("l2", "huber", "fair", "l1")


def measured_cost(pairs: pd.DataFrame) -> pd.Series:
    """What each hire cost: cost_usd, else the creator's asking price; NaN when unknown or 0."""
    cost = pairs.get("cost_usd", pd.Series(np.nan, index=pairs.index))
    if "price_per_post_usd" in pairs.columns:
        cost = cost.fillna(pairs["price_per_post_usd"])
    cost = pd.to_numeric(cost, errors="coerce").astype(float)
    return cost.where(cost > 0)


def measured_return(pairs: pd.DataFrame) -> pd.Series:
    """sales_lift_usd per dollar paid (NaN where the cost is unknown)."""
    return pairs["sales_lift_usd"].astype(float) / measured_cost(pairs)


def return_scale(returns: np.ndarray) -> float:
    """Where asinh turns from linear to logarithmic: a fifth of the median absolute return."""
    values = np.asarray(returns, dtype=float)
    finite = values[np.isfinite(values)]
    return float(max(np.median(np.abs(finite)) / 5, 1e-6))


# The fewest hires a leaf of the lift models holds: rows // LEAF_SHARE, clipped to
# [MIN_LEAF, MAX_LEAF]. MAX_LEAF suits dense histories (benchmarks/model_quality.py); with
# 300 hires it would allow about six leaves. NDCG@10 by true ROI on learning_curve.py's
# fresh lists, a Recommender fitted on 12 campaigns x 25 habitual hires, mean of 6 seeds:
# 0.65 with leaves of 50, 0.68 of 20, 0.63 of 10; 5 campaigns: 0.48 and 0.59 (50, 20);
# 300 x 25 random hires, 3 seeds: 0.912 and 0.913.
MIN_LEAF, MAX_LEAF, LEAF_SHARE = 20, 50, 15


def leaf_size(rows: int) -> int:
    """The fewest hires a leaf of the lift models holds when they learn from `rows`: fewer
    for a small history, so that its trees can split at all (see MIN_LEAF)."""
    return int(np.clip(rows // LEAF_SHARE, MIN_LEAF, MAX_LEAF))


def to_model_scale(returns: np.ndarray, scale: float) -> np.ndarray:
    """Returns on the scale the models learn: asinh(returns / scale)."""
    return np.asarray(np.arcsinh(np.asarray(returns, dtype=float) / scale), dtype=float)


def from_model_scale(values: np.ndarray, scale: float) -> np.ndarray:
    """The inverse of `to_model_scale`: back to returns per dollar."""
    return np.asarray(np.sinh(values) * scale, dtype=float)


class ReturnRegressor(KernelWalkedModel, RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Predicts return per dollar; `predict` gives the point estimate in dollars per dollar.

    `loss` is LightGBM's objective on the asinh scale (l2, huber, fair, l1, or
    quantile with `alpha`). `scale` sets where asinh turns logarithmic; None
    takes `return_scale` of the training targets. Rows with a non-finite target
    are left out of training; a leaf holds at least `leaf_size` of the rows learnt
    from. `contributions` are on the model's (asinh) scale.
    With `prior`, the trees boost from the marketing prior (prior.py), whose strength
    is learnt from the same rows; fit it on a features frame (it finds its columns by
    name).
    """

    def __init__(
        self,
        loss: str = "l2",
        alpha: float = 0.5,
        scale: float | None = None,
        random_state: int | None = 0,
        n_estimators: int = 300,
        learning_rate: float = 0.04,
        prior: bool = False,
    ) -> None:
        self.prior = prior
        self.loss = loss
        self.alpha = alpha
        self.scale = scale
        self.random_state = random_state
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate

    def fit(self, X: Any, y: Any) -> ReturnRegressor:
        """Fit on features X and returns per dollar y; returns self."""
        # NaN targets are allowed (hires of unknown cost): y is checked here, not by sklearn.
        X, y = self._fit_input(X, y)
        target = y.astype(float)
        finite = np.isfinite(target)
        if not finite.any():
            raise ValueError("no finite target to learn from")
        self.scale_ = return_scale(target) if self.scale is None else float(self.scale)
        extra: dict[str, Any] = {"objective": self.loss}
        if self.loss == "quantile":
            extra["alpha"] = self.alpha
        self.model_ = LGBMRegressor(
            **lgbm_params(
                self.random_state,
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                min_child_samples=leaf_size(int(finite.sum())),
                **extra,
            )
        )
        learnt = to_model_scale(target[finite], self.scale_)
        self.prior_: MarketingPrior | None = None
        init = None
        if self.prior:
            names = [str(name) for name in getattr(self, "feature_names_in_", [])]
            self.prior_ = MarketingPrior(names).fit(X[finite], learnt)
            init = self.prior_.predict(X[finite])
        self.model_.fit(X[finite], learnt, init_score=init)
        self._walk_trees()
        return self

    def predict_transformed(self, X: Any) -> np.ndarray:
        """Predictions on the model's (asinh) scale."""
        raw = self._raw(X)
        if self.prior_ is None:
            return raw
        return np.asarray(raw + self.prior_.predict(self._checked(X)))

    def contributions(self, X: Any) -> np.ndarray:
        """Per-feature contributions to the prediction on the model's scale, the prior's
        shared among its features (last column: the bias)."""
        trees = super().contributions(X)
        if self.prior_ is None:
            return trees
        return np.asarray(trees + self.prior_.contributions(self._checked(X)))

    def to_return(self, transformed: np.ndarray) -> np.ndarray:
        """Predictions on the model's scale back to returns per dollar."""
        check_is_fitted(self, "scale_")
        return from_model_scale(transformed, self.scale_)

    def predict(self, X: Any) -> np.ndarray:
        """The point estimate of return per dollar for each row of X."""
        return self.to_return(self.predict_transformed(X))


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
