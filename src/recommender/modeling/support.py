"""Where the history has looked: a model of who gets hired, and intervals that widen where
the history never looked.

A brand hires by habit, so its history holds creators of a few kinds. `HireSupport`
learns, from the hires and a sample of the market they were chosen from, how likely a
creator-campaign pair is to be a hire (a logistic regression on size, niche, audience,
engagement and price). The interval's margin is then calibrated by weighted conformal
prediction (Tibshirani et al. 2019, "Conformal prediction under covariate shift"): each
hire's out-of-fold miss counts with the odds that a pair like it is from the market rather
than a hire, and so does the candidate's own (unknown) miss. A candidate like past hires
gets about the usual margin; one unlike them a wider one. One so unlike them that the
hires cannot bound its miss at all gets the largest miss seen, and the
`unlike_past_hires` flag with its reason (which of size, niche and audience lies outside
the hires').
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from recommender import contract

COLUMNS = (
    "log_followers", "niche_exact", "niche_similarity", "country_match", "engagement_rate",
    "log_price",
)  # fmt: skip
NEARLY_ALL = 0.95  # a trait this share of hires had: a candidate without it is outside
SIZE_QUANTILES = (0.01, 0.99)  # the hires' range of sizes


def _followers(log10: float) -> str:
    """log_followers (log10 of followers + 1) as people read a count."""
    return contract.people_count(10**log10 - 1)


class HireSupport:
    """Who gets hired, and the interval margin and flag that follow from it."""

    def fit(
        self, hires: pd.DataFrame, market: pd.DataFrame, scores: np.ndarray, coverage: float
    ) -> HireSupport:
        """`hires` and `market`: FEATURES frames of the hires and of market pairs; `scores`:
        each hire's out-of-fold conformal score (its miss) on the model's scale (NaN:
        unknown)."""
        X = pd.concat([hires[list(COLUMNS)], market[list(COLUMNS)]], ignore_index=True)
        self.fill_ = hires[list(COLUMNS)].median().fillna(0.0)
        y = np.r_[np.ones(len(hires)), np.zeros(len(market))]
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        self.model_.fit(X.fillna(self.fill_).to_numpy(dtype=float), y)
        known = np.isfinite(scores)
        order = np.argsort(scores[known])
        self.scores_ = scores[known][order]
        self.weights_ = self.market_odds(hires.loc[known])[order]
        self.cumulative_ = np.cumsum(self.weights_)
        self.coverage_ = coverage
        size = hires["log_followers"].dropna()
        self.size_range_ = (
            tuple(float(q) for q in size.quantile(SIZE_QUANTILES))
            if len(size)
            else (np.nan, np.nan)
        )
        self.in_niche_ = float((hires["niche_exact"] == 1).mean())
        self.audience_matched_ = float((hires["country_match"].fillna(1) >= 0.5).mean())
        return self

    def market_odds(self, X: pd.DataFrame) -> np.ndarray:
        """How much likelier each pair is to come from the market than to be a hire."""
        matrix = X[list(COLUMNS)].fillna(self.fill_).to_numpy(dtype=float)
        hired = np.clip(self.model_.predict_proba(matrix)[:, 1], 1e-9, 1 - 1e-9)
        return np.asarray((1 - hired) / hired)

    def margins(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each pair's interval margin (weighted conformal), and whether the hires could not
        bound it at all (then the margin is the largest miss seen)."""
        if not self.scores_.size:
            return np.zeros(len(X)), np.zeros(len(X), dtype=bool)
        own = self.market_odds(X)
        total = self.cumulative_[-1]
        needed = self.coverage_ * (total + own)
        unbounded = needed > total
        index = np.minimum(
            np.searchsorted(self.cumulative_, needed, side="left"), self.scores_.size - 1
        )
        return self.scores_[index], unbounded

    def unlike(self, X: pd.DataFrame, unbounded: np.ndarray) -> np.ndarray:
        """Why each unbounded pair is unlike past hires ('' for the others)."""
        out = np.full(len(X), "", dtype=object)
        rows = np.flatnonzero(unbounded)
        if not rows.size:
            return out
        low, high = self.size_range_
        span = f"{_followers(low)}-{_followers(high)}"
        size = X["log_followers"].to_numpy(dtype=float)[rows]
        below, above = size < low, size > high
        outside_niche = (X["niche_exact"].to_numpy(dtype=float)[rows] == 0) & (
            self.in_niche_ >= NEARLY_ALL
        )
        elsewhere = (X["country_match"].to_numpy(dtype=float)[rows] < 0.5) & (
            self.audience_matched_ >= NEARLY_ALL
        )
        niche_said = f"outside the niche, where {self.in_niche_:.0%} of past hires were"
        audience_said = (
            f"audience elsewhere, where {self.audience_matched_:.0%} of past hires' "
            "audiences matched"
        )
        sizes = np.full(rows.size, "", dtype=object)
        for which, side in ((below, "below"), (above, "above")):
            sizes[which] = [f"{_followers(v)} followers, {side} past hires ({span})"
                            for v in size[which]]  # fmt: skip
        parts = np.stack(
            [
                sizes,
                np.where(outside_niche, niche_said, ""),
                np.where(elsewhere, audience_said, ""),
            ],
            axis=1,
        ).astype(object)
        said = np.array(["; ".join(p for p in row if p) for row in parts], dtype=object)
        said[said == ""] = "size, niche and audience together unlike past hires"
        out[rows] = said
        return out
