"""Campaign fit: a LightGBM lambdarank ranker, one query group per campaign."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMRanker
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from recommender.modeling._lgbm import KernelWalkedModel, lgbm_params

MAX_LABEL = 4


def campaign_fit_labels(
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


class CampaignFitRanker(KernelWalkedModel, BaseEstimator):  # type: ignore[misc]
    """Ranks creators within a campaign by fit; `fit_score` maps raw scores to 0..1.

    fit_score is the share of training pairs that scored lower, so it reads
    the same across campaigns ("better fit than 80% of past hires"). Labels are
    whole relevance grades 0..4 (`campaign_fit_labels`).
    """

    def __init__(self, random_state: int | None = 0, n_estimators: int = 150) -> None:
        self.random_state = random_state
        self.n_estimators = n_estimators

    def fit(self, X: Any, y: Any, *, groups: Any = None) -> CampaignFitRanker:
        """Learn to order rows of the same group (campaign) by their grade y; returns self.

        `groups` holds each row's campaign id; None puts every row in one group.
        """
        ids = np.zeros(len(X), dtype=str) if groups is None else np.asarray(groups, dtype=str)
        X, labels = self._fit_input(X, y, ids)
        order = np.argsort(ids, kind="stable")
        ordered = pd.Series(ids[order])
        sizes = ordered.groupby(ordered, sort=False).size().to_numpy()
        self.model_ = LGBMRanker(
            **lgbm_params(
                self.random_state,
                n_estimators=self.n_estimators,
                learning_rate=0.1,
                objective="lambdarank",
                min_child_samples=20,
            )
        )
        self.model_.fit(X[order], np.asarray(labels)[order], group=sizes)
        self._walk_trees()
        self.train_scores_ = np.sort(self.trees_.predict(X))
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Raw ranking scores: higher is a better fit (compare within a campaign)."""
        return self._raw(X)

    def fit_score(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores as the share of training pairs that scored lower (0..1)."""
        check_is_fitted(self, "train_scores_")
        rank = np.searchsorted(self.train_scores_, raw, side="left")
        return np.asarray(rank / max(len(self.train_scores_), 1), dtype=float)
