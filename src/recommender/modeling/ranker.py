"""Campaign fit: a LightGBM lambdarank ranker, one query group per campaign."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMRanker
from sklearn.base import BaseEstimator

from recommender.modeling.lgbm import lgbm_params
from recommender.modeling.trees import Trees

MAX_LABEL = 4


def fit_labels(
    fit_rating: pd.Series | None, measured_return: pd.Series, campaign_id: pd.Series
) -> np.ndarray:
    """Relevance labels 0..4: the brand's fit_rating where given, else derived from outcomes.

    Without a rating, a hire's label is the fifth of its campaign its measured
    return per dollar falls in (0 = bottom fifth, 4 = top fifth).
    """
    percentile = measured_return.groupby(campaign_id).rank(pct=True, method="average")
    derived = (np.ceil(percentile.fillna(0.5) * 5) - 1).clip(0, MAX_LABEL)
    if fit_rating is None:
        return np.asarray(derived, dtype=int)
    rating = pd.to_numeric(fit_rating, errors="coerce")
    return rating.fillna(derived).clip(0, MAX_LABEL).round().to_numpy(dtype=int)


class FitRanker(BaseEstimator):  # type: ignore[misc]
    """Ranks creators within a campaign; `fit_score` maps raw scores to 0..1.

    fit_score is the share of training pairs that scored lower, so it reads
    the same across campaigns ("better fit than 80% of past hires").
    """

    def __init__(self, random_state: int | None = 0, n_estimators: int = 150) -> None:
        self.random_state = random_state
        self.n_estimators = n_estimators

    def fit(self, X: pd.DataFrame, y: Any, group_ids: pd.Series) -> FitRanker:
        order = np.argsort(np.asarray(group_ids, dtype=str), kind="stable")
        groups = pd.Series(np.asarray(group_ids, dtype=str)[order])
        sizes = groups.groupby(groups, sort=False).size().to_numpy()
        self.model_ = LGBMRanker(
            **lgbm_params(
                self.random_state,
                n_estimators=self.n_estimators,
                learning_rate=0.1,
                objective="lambdarank",
                min_child_samples=20,
            )
        )
        self.model_.fit(X.iloc[order], np.asarray(y)[order], group=sizes)
        self.trees_ = Trees.from_lightgbm(self.model_.booster_)
        self.train_scores_ = np.sort(self.predict(X))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.trees_.predict(X)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Per-feature contributions to the raw ranking score (last column: bias)."""
        return self.trees_.contributions(X)[1]

    def fit_score(self, raw: np.ndarray) -> np.ndarray:
        rank = np.searchsorted(self.train_scores_, raw, side="left")
        return np.asarray(rank / max(len(self.train_scores_), 1), dtype=float)
