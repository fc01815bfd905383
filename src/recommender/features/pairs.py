"""The features every model reads, for a pair frame (one row per campaign and creator)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from recommender.contract import require_pair_frame
from recommender.features import _columns as cols
from recommender.features.creator import CREATOR_FEATURES, CreatorFeatures
from recommender.features.match import (
    AFFINITY_SMOOTHING,
    MATCH_FEATURES,
    MATCH_TEXT_COLUMNS,
    MatchFeatures,
)

FEATURES = CREATOR_FEATURES + MATCH_FEATURES


class PairFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Every feature of a pair: creator features and match features side by side, in
    FEATURES order. The one transformer that training and scoring share."""

    def __init__(self, random_state: int | None = 0, smoothing: float = AFFINITY_SMOOTHING) -> None:
        self.random_state = random_state
        self.smoothing = smoothing

    def fit(self, X: pd.DataFrame, y: Any = None) -> PairFeatures:
        """Fit both parts on the pair frame X; `y` is the niche-affinity signal (0..1) or None."""
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Fit, then transform X (its niche affinities out of fold, see MatchFeatures)."""
        X = require_pair_frame(X, type(self).__name__)
        self.creator_ = CreatorFeatures(random_state=self.random_state).fit(X)
        self.match_ = MatchFeatures(smoothing=self.smoothing)
        match = self.match_.fit_transform(X, y)
        creator = self.creator_._columns(X, cols.texts(X, ["platform"])["platform"])
        out_of_fold = {name: match[name].to_numpy() for name in MATCH_FEATURES}
        return self._frame(X, {**creator, **out_of_fold})

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """FEATURES of each row of the pair frame X, as floats (NaN where unknown)."""
        check_is_fitted(self, "match_")
        X = require_pair_frame(X, type(self).__name__)
        texts = cols.texts(X, ["platform", *MATCH_TEXT_COLUMNS])  # cleaned together, once
        match = self.match_._columns(X, texts, self.match_.prior_, self.match_.affinity_)
        return self._frame(X, {**self.creator_._columns(X, texts["platform"]), **match})

    @property
    def anomaly_threshold(self) -> float:
        """The anomaly score above which an account is among the market's 10% most unusual."""
        check_is_fitted(self, "creator_")
        return float(self.creator_.anomaly_threshold_)

    @staticmethod
    def _frame(X: pd.DataFrame, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """The columns in FEATURES order, as floats on X's index. The frame holds one
        row-major array, which its to_numpy() returns as is: the trees read it uncopied."""
        matrix = np.empty((len(X), len(FEATURES)))
        for position, name in enumerate(FEATURES):
            matrix[:, position] = columns[name]
        return pd.DataFrame(matrix, index=X.index, columns=list(FEATURES), copy=False)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of transform's columns (FEATURES)."""
        return np.asarray(FEATURES, dtype=object)
