"""Markets whose sales come about another way than the project's simulator says.

A model built beside one simulator can learn that simulator rather than marketing. These
markets keep the simulator's creators, campaigns and hires but replace how a hire sells
(its expected lift, and so its measured one), so that what the model must learn is not
what it was built beside. `learning_curve.py --market NAME` measures on them.

- `ours`: the simulator as it is (simulate.expected_outcomes).
- `steady`: sales grow with the genuine engaged audience and how much it cares; an
  unrelated niche, another country, an audience outside the target age or gender cost
  less than in `ours` (a secondary or related niche a little more); sponsorship costs
  in proportion to its share of posts; big accounts sell as well per engagement as
  small ones.
- `saturating`: sales grow with the engaged audience to the power 0.85, plus three for
  each comment (discounted by the share of bought followers); each year of audience age
  outside the target range costs about 28% (`ours`: 22%); a creator sponsoring more than
  30% of posts loses 60% at once; pricier products sell less than in proportion.

Neither is a model of anything measured: they are two other plausible worlds. The
matching of niche and audience below follows simulate.expected_outcomes on purpose (the
same contract, the same campaign targets); what each match is worth differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from recommender.datasets.simulate import NICHES, Market, expected_outcomes, measure_outcomes

Process = Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame], pd.DataFrame]


def _matched_pairs(
    pairs: pd.DataFrame, creators: pd.DataFrame, traits: pd.DataFrame, campaigns: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The pairs with what a process reads; how each matches its campaign, its genuine
    engaged audience and the product's price."""
    own = creators[["creator_id", "niche", "secondary_niches", "avg_comments"]]
    df = (
        pairs[["campaign_id", "creator_id"]]
        .merge(own, on="creator_id")
        .merge(traits, on="creator_id", how="left")
        .merge(campaigns.rename(columns={"niche": "campaign_niche"}), on="campaign_id", how="left")
    )
    wanted, niche = df["campaign_niche"], df["niche"]
    age = df["true_audience_age_median"].to_numpy()
    low = df["target_age_min"].fillna(-np.inf).to_numpy()
    high = df["target_age_max"].fillna(np.inf).to_numpy()
    female_gap = df["target_female_share"].to_numpy() - df["true_audience_female_share"].to_numpy()
    match = {
        "same": (niche == wanted).to_numpy(),
        "secondary": np.array(
            [w in str(s).split(";") for w, s in zip(wanted, df["secondary_niches"], strict=True)]
        ),
        "related": np.array([n in NICHES[w][1] for w, n in zip(wanted, niche, strict=True)]),
        "country": (
            df["target_country"].isna() | (df["target_country"] == df["true_audience_country"])
        ).to_numpy(),
        "age_gap": np.maximum(low - age, 0) + np.maximum(age - high, 0),
        "gender_gap": np.abs(np.nan_to_num(female_gap, nan=0.0)),
        "engaged": df["genuine_followers"].to_numpy() * df["genuine_engagement_rate"].to_numpy(),
        "price": df["product_price_usd"].fillna(35.0).to_numpy(),
    }
    return df, match


def _niche(
    match: dict[str, np.ndarray], secondary: float, related: float, other: float
) -> np.ndarray:
    """What each pair's niche is worth: 1 in the campaign's own, else these."""
    cases = [match["same"], match["secondary"], match["related"]]
    return np.asarray(np.select(cases, [1.0, secondary, related], default=other))


def _audience(
    match: dict[str, np.ndarray],
    elsewhere: float,
    years: float,
    gender: float,
    floor: float,
) -> np.ndarray:
    """What each pair's audience is worth: `elsewhere` for another country, times
    exp(-years outside the target ages / `years`), times 1 - `gender` x the gap in female
    share (at least `floor`)."""
    country = np.where(match["country"], 1.0, elsewhere)
    return np.asarray(country * np.exp(-match["age_gap"] / years)
                      * np.clip(1 - gender * match["gender_gap"], floor, 1))  # fmt: skip


def _truth(
    pairs: pd.DataFrame, df: pd.DataFrame, lift: np.ndarray, fit: np.ndarray
) -> pd.DataFrame:
    out = pairs[["campaign_id", "creator_id"]].reset_index(drop=True)
    return out.assign(expected_lift_usd=lift, true_fit=np.clip(fit, 0, 1),
                      true_cost_usd=df["true_price_usd"].to_numpy())  # fmt: skip


def steady(
    pairs: pd.DataFrame, creators: pd.DataFrame, traits: pd.DataFrame, campaigns: pd.DataFrame
) -> pd.DataFrame:
    """Expected lift and fit of each pair in the `steady` market (see the module)."""
    df, match = _matched_pairs(pairs, creators, traits, campaigns)
    niche = _niche(match, secondary=0.6, related=0.4, other=0.25)
    audience = _audience(match, elsewhere=0.35, years=8, gender=1.0, floor=0.3)
    trust = 1 - 0.6 * df["sponsored_ratio"].to_numpy()
    care = df["engagement_quality"].to_numpy()
    lift = 0.03 * match["engaged"] * match["price"] * niche * audience * trust * care
    return _truth(pairs, df, lift, niche * audience * trust)


def saturating(
    pairs: pd.DataFrame, creators: pd.DataFrame, traits: pd.DataFrame, campaigns: pd.DataFrame
) -> pd.DataFrame:
    """Expected lift and fit of each pair in the `saturating` market (see the module)."""
    df, match = _matched_pairs(pairs, creators, traits, campaigns)
    niche = _niche(match, secondary=0.5, related=0.5, other=0.2)
    audience = _audience(match, elsewhere=0.5, years=3, gender=1.5, floor=0.2)
    trust = np.where(df["sponsored_ratio"].to_numpy() > 0.3, 0.4, 1.0)
    comments = df["avg_comments"].fillna(0).to_numpy() * (1 - df["fake_follower_share"].to_numpy())
    reach = match["engaged"] ** 0.85 + 3 * comments
    lift = 0.08 * reach * match["price"] ** 0.8 * niche * audience * trust
    return _truth(pairs, df, lift, niche * audience * trust)


MARKETS: dict[str, Process] = {"ours": expected_outcomes, "steady": steady,
                               "saturating": saturating}  # fmt: skip


def remeasured(market: Market, process: Process, seed: int) -> Market:
    """The same market's hires, their expected and measured outcomes from `process`
    (measured with the simulator's noise). `ours` returns the market untouched, its
    noise included, so that `--market ours` measures what learning_curve.py always did."""
    if process is expected_outcomes:
        return market
    expected = process(market.outcomes, market.creators, market.creator_traits, market.campaigns)
    rng = np.random.default_rng(20_000 + seed)
    return replace(market, outcomes=measure_outcomes(expected, market.campaigns, rng),
                   expected=expected)  # fmt: skip
