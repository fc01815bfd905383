"""Who gets hired, and the weighted conformal margins that follow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.features import FEATURES
from recommender.modeling.support import HireSupport


def pairs(n: int, followers: float, niche: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=list(FEATURES))
    frame["log_followers"] = np.log10(followers) + rng.normal(0, 0.1, n)
    frame["niche_exact"] = niche
    frame["country_match"] = 1.0
    return frame


@pytest.fixture(scope="module")
def support() -> HireSupport:
    hires = pairs(200, 100_000, 1.0)  # a habit: big, in the niche
    market = pd.concat([pairs(200, 100_000, 1.0, 1), pairs(600, 3_000, 0.0, 2)])
    misses = np.arange(1, 201, dtype=float) / 100
    return HireSupport().fit(hires, market, misses, coverage=0.8)


def test_the_margin_is_the_weighted_quantile_of_the_misses(support):
    support.scores_ = np.arange(1.0, 11.0)  # ten misses of equal weight
    support.weights_ = np.ones(10)
    support.cumulative_ = np.cumsum(support.weights_)
    odds = support.market_odds
    try:
        for own, expected, unbounded in [(0.0, 8.0, False), (2.0, 10.0, False), (5.0, 10.0, True)]:
            support.market_odds = lambda X, own=own: np.full(len(X), own)  # type: ignore[method-assign]
            margin, beyond = support.margins(pairs(1, 1e5, 1.0))
            assert (margin[0], beyond[0]) == (expected, unbounded), own
    finally:
        support.market_odds = odds  # type: ignore[method-assign]


def test_a_candidate_unlike_every_hire_is_flagged_with_why_and_gets_a_wider_margin():
    hires = pairs(200, 100_000, 1.0)
    market = pd.concat([pairs(200, 100_000, 1.0, 1), pairs(600, 3_000, 0.0, 2)])
    misses = np.random.default_rng(0).exponential(1.0, 200)
    support = HireSupport().fit(hires, market, misses, coverage=0.8)
    like = pairs(5, 100_000, 1.0, 3)
    unlike = pairs(5, 2_000, 0.0, 4)
    like_margin, like_flag = support.margins(like)
    unlike_margin, unlike_flag = support.margins(unlike)
    assert not like_flag.any() and unlike_flag.all()
    assert (unlike_margin > like_margin.max()).all()
    why = support.unlike(unlike, unlike_flag)
    assert all("below past hires" in w and "outside the niche, where 100%" in w for w in why)
    assert (support.unlike(like, like_flag) == "").all()
