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
hires cannot bound its miss at all gets the `unlike_past_hires` flag with its reason
(which of size, niche and audience lies outside the hires') and the margin of the least
typical hire the history has: the widest it can stand behind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

COLUMNS = (
    "log_followers", "niche_exact", "niche_similarity", "country_match", "engagement_rate",
    "log_price",
)  # fmt: skip
NEARLY_ALL = 0.95  # a trait this share of hires had: a candidate without it is outside
SIZE_QUANTILES = (0.01, 0.99)  # the hires' range of sizes


def _followers(log10: float) -> str:
    followers = 10**log10 - 1
    if followers >= 1e6:
        return f"{followers / 1e6:.1f}M"
    return f"{followers / 1e3:.0f}k" if followers >= 1e3 else f"{followers:.0f}"


class HireSupport:
    """Who gets hired, and the interval margin and flag that follow from it."""

    def fit(
        self, hires: pd.DataFrame, market: pd.DataFrame, misses: np.ndarray, coverage: float
    ) -> HireSupport:
        """`hires` and `market`: FEATURES frames of the hires and of market pairs; `misses`:
        each hire's out-of-fold conformal score on the model's scale (NaN: unknown)."""
        X = pd.concat([hires[list(COLUMNS)], market[list(COLUMNS)]], ignore_index=True)
        self.fill_ = hires[list(COLUMNS)].median().fillna(0.0)
        y = np.r_[np.ones(len(hires)), np.zeros(len(market))]
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        self.model_.fit(X.fillna(self.fill_).to_numpy(dtype=float), y)
        known = np.isfinite(misses)
        order = np.argsort(misses[known])
        self.misses_ = misses[known][order]
        self.weights_ = self.odds(hires.loc[known])[order]
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

    def odds(self, X: pd.DataFrame) -> np.ndarray:
        """How much likelier each pair is to come from the market than to be a hire."""
        matrix = X[list(COLUMNS)].fillna(self.fill_).to_numpy(dtype=float)
        hired = np.clip(self.model_.predict_proba(matrix)[:, 1], 1e-9, 1 - 1e-9)
        return np.asarray((1 - hired) / hired)

    def margins(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each pair's interval margin (weighted conformal), and whether the hires could not
        bound it at all (then the margin is the largest miss seen)."""
        if not self.misses_.size:
            return np.zeros(len(X)), np.zeros(len(X), dtype=bool)
        own = self.odds(X)
        total = self.cumulative_[-1]
        unbounded = self.coverage_ * (total + own) > total
        # Beyond what the hires can bound, the candidate counts as the least typical hire.
        needed = self.coverage_ * (total + np.minimum(own, self.weights_.max()))
        index = np.searchsorted(self.cumulative_, needed, side="left")
        return self.misses_[np.minimum(index, self.misses_.size - 1)], unbounded

    def unlike(self, X: pd.DataFrame, unbounded: np.ndarray) -> np.ndarray:
        """Why each unbounded pair is unlike past hires ('' for the others)."""
        out = np.full(len(X), "", dtype=object)
        rows = np.flatnonzero(unbounded)
        if not rows.size:
            return out
        low, high = self.size_range_
        span = f"{_followers(low)}-{_followers(high)}"
        size = X["log_followers"].to_numpy(dtype=float)[rows]
        niche = X["niche_exact"].to_numpy(dtype=float)[rows]
        country = X["country_match"].to_numpy(dtype=float)[rows]
        for k, row in enumerate(rows):
            said = []
            if size[k] < low:
                said.append(f"{_followers(size[k])} followers, below past hires ({span})")
            elif size[k] > high:
                said.append(f"{_followers(size[k])} followers, above past hires ({span})")
            if niche[k] == 0 and self.in_niche_ >= NEARLY_ALL:
                said.append(f"outside the niche, where {self.in_niche_:.0%} of past hires were")
            if country[k] < 0.5 and self.audience_matched_ >= NEARLY_ALL:
                said.append(
                    f"audience elsewhere, where {self.audience_matched_:.0%} of past hires' "
                    "audiences matched"
                )
            out[row] = "; ".join(said) or "size, niche and audience together unlike past hires"
        return out
