"""The marketing prior: its strength learnt from the history, its part shared among features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.features import FEATURES
from recommender.modeling.lift import ReturnRegressor
from recommender.modeling.prior import COLUMNS, MarketingPrior

NAMES = list(FEATURES)


def features(n: int, seed: int = 0, **fixed: float) -> pd.DataFrame:
    """Random features, the rule's columns as a marketer would see them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(NAMES))), columns=NAMES)
    frame["engagements_per_dollar"] = rng.lognormal(0, 1, n)
    frame["niche_exact"] = rng.integers(0, 2, n).astype(float)
    frame["niche_in_secondary"] = 0.0
    frame["country_match"] = rng.random(n)
    frame["sponsorship_ratio"] = rng.random(n)
    for name, value in fixed.items():
        frame[name] = value
    return frame


def rule(frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(
        frame["engagements_per_dollar"] * (0.5 + 0.5 * frame["niche_exact"])
        * (0.5 + 0.5 * frame["country_match"]) * (1 - 0.5 * frame["sponsorship_ratio"])
    )  # fmt: skip


def test_a_history_that_follows_the_rule_gives_it_its_weight():
    X = features(400)
    target = 0.7 * np.log(rule(X)) + 1.0
    prior = MarketingPrior(NAMES).fit(X.to_numpy(), target)
    assert prior.weight_ == pytest.approx(0.7)
    assert prior.predict(X.to_numpy()) == pytest.approx(target)


def test_a_history_against_the_rule_turns_it_off_never_round():
    X = features(400)
    target = -np.log(rule(X))
    prior = MarketingPrior(NAMES).fit(X.to_numpy(), target)
    assert prior.weight_ == 0
    assert np.ptp(prior.predict(X.to_numpy())) == pytest.approx(0)


def test_its_part_is_shared_among_its_features_and_sums_to_it():
    X = features(200, seed=1)
    prior = MarketingPrior(NAMES).fit(X.to_numpy(), np.log(rule(X)))
    parts = prior.contributions(X.to_numpy())
    assert parts.shape == (200, len(NAMES) + 1)
    assert parts.sum(axis=1) == pytest.approx(prior.predict(X.to_numpy()))
    others = [i for i, name in enumerate(NAMES) if name not in COLUMNS]
    assert not parts[:, others].any()


def test_unknown_inputs_count_as_a_marketer_would():
    X = features(100, seed=2)
    prior = MarketingPrior(NAMES).fit(X.to_numpy(), np.log(rule(X)))
    row = X.iloc[[0]].copy()
    unknown = row.assign(engagements_per_dollar=np.nan, country_match=np.nan)
    assert np.isfinite(prior.predict(unknown.to_numpy())).all()


def test_where_the_history_never_looked_the_model_keeps_the_prior():
    """A habitual history: every hire in the campaign's niche. The model has no data on
    creators outside it, so there it keeps the prior's discount instead of guessing."""
    X = features(300, seed=3, niche_exact=1.0)
    target = np.asarray(rule(X) * np.random.default_rng(3).lognormal(0, 0.3, 300))
    with_prior = ReturnRegressor(prior=True, random_state=0).fit(X, target)
    without = ReturnRegressor(prior=False, random_state=0).fit(X, target)
    outside = X.assign(niche_exact=0.0)
    assert np.all(with_prior.predict(outside) < with_prior.predict(X))
    assert np.allclose(without.predict(outside), without.predict(X))  # blind to the niche
    contributions = with_prior.contributions(X)
    assert contributions.sum(axis=1) == pytest.approx(with_prior.predict_transformed(X))


def test_a_creator_matching_on_every_count_is_never_told_minus_for_it():
    X = features(300, seed=4)
    prior = MarketingPrior(NAMES).fit(X.to_numpy(), np.log(rule(X)))
    ideal = X.iloc[[0]].assign(niche_exact=1.0, country_match=1.0, sponsorship_ratio=0.0)
    parts = prior.contributions(ideal.to_numpy())[0]
    for name in ("niche_exact", "country_match", "sponsorship_ratio"):
        assert parts[NAMES.index(name)] >= 0, name
