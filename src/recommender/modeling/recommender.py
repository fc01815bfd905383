"""The combined recommender: features, fit ranker and lift models behind one predict()."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from recommender import schema
from recommender.features import CAMPAIGN_PREFIX
from recommender.modeling.lift import ReturnRegressor
from recommender.modeling.ranker import FitRanker

MIN_COST_USD = 1.0
# Raised when a saved model's structure changes; an older model must be retrained.
MODEL_FORMAT = 4
PREDICTION_COLUMNS = (
    "campaign_id", "creator_id", "score", "fit_score", "expected_lift_usd", "lift_low_usd",
    "lift_high_usd", "cost_usd", "expected_roi", "tier",
)  # fmt: skip


@dataclass(frozen=True)
class Recommender:
    """Everything training learned; `predict` turns a pair frame into scored columns.

    score follows the campaign's objective: sales -> expected_roi (expected
    incremental sales per dollar; expected lift when training knew no costs);
    awareness -> engagements per dollar weighted by fit; content -> fit_score.
    """

    features: Pipeline
    ranker: FitRanker
    lift: ReturnRegressor
    lift_low: ReturnRegressor
    lift_high: ReturnRegressor
    calibration: float  # mean-calibration factor of the point return
    margin: float  # conformal widening of the quantile band, on the model's scale
    interval_coverage: float  # the coverage the band was calibrated for
    metadata: dict[str, Any] = field(default_factory=dict)

    def transform(self, pairs: pd.DataFrame) -> pd.DataFrame:
        return self.features.transform(pairs)  # type: ignore[no-any-return]

    def predict(
        self,
        pairs: pd.DataFrame,
        features: pd.DataFrame | None = None,
        lift_contributions: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Scored columns for each pair; pass features and the lift model's contributions
        when already computed (the contributions add up to its prediction)."""
        X = self.transform(pairs) if features is None else features
        fit_score = self.ranker.fit_score(self.ranker.predict(X))
        if lift_contributions is None:
            point = self.lift.predict_transformed(X)
        else:
            point = lift_contributions.sum(axis=1)
        low = self.lift_low.predict_transformed(X) - self.margin
        high = self.lift_high.predict_transformed(X) + self.margin
        cost = X["price_usd"].to_numpy(dtype=float)
        # The models learned return per dollar; or lift itself when training knew no costs.
        per_dollar = np.ones_like(cost) if self.metadata.get("unit_cost") else cost
        expected = self.calibration * self.lift.to_return(point)
        expected_lift = expected * per_dollar
        lift_low = np.minimum(self.lift.to_return(low) * per_dollar, expected_lift)
        lift_high = np.maximum(self.lift.to_return(high) * per_dollar, expected_lift)
        # A gifted post still costs something (product, time): at least $1 per post.
        expected_roi = expected_lift / np.maximum(cost, MIN_COST_USD)

        objective = (
            pairs[f"{CAMPAIGN_PREFIX}objective"].astype("string").str.lower()
            if f"{CAMPAIGN_PREFIX}objective" in pairs.columns
            else pd.Series(schema.DEFAULT_OBJECTIVE, index=pairs.index, dtype="string")
        ).fillna(schema.DEFAULT_OBJECTIVE)
        awareness = fit_score * X["engagements_per_dollar"].fillna(0).to_numpy()
        score = np.select(
            [objective.to_numpy() == "awareness", objective.to_numpy() == "content"],
            [awareness, fit_score],
            default=expected_lift if self.metadata.get("unit_cost") else expected_roi,
        )
        return pd.DataFrame(
            {
                "campaign_id": pairs["campaign_id"].to_numpy(),
                "creator_id": pairs["creator_id"].to_numpy(),
                "score": score,
                "fit_score": fit_score,
                "expected_lift_usd": expected_lift,
                "lift_low_usd": lift_low,
                "lift_high_usd": lift_high,
                "cost_usd": cost,
                "expected_roi": expected_roi,
                "tier": schema.tier_of(pairs["followers"]),
            },
            index=pairs.index,
        )
