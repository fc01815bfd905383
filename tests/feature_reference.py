"""The pandas implementation of PairFeatures.transform that features.py had before it moved
to arrays, kept as the specification the array one is held to, value for value
(test_features.py). A deliberate change to a feature changes it here too."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recommender import contract
from recommender.contract import CAMPAIGN_PREFIX
from recommender.features import FEATURES, CreatorFeatures, MatchFeatures, PairFeatures
from recommender.features.creator import PLATFORM_CODES, TIER_CODES
from recommender.features.match import _PAIR_SEP, OBJECTIVE_CODES


def transform(features: PairFeatures, X: pd.DataFrame) -> pd.DataFrame:
    """What `features.transform(X)` returned when it was written with pandas."""
    creator, match = creator_features(features.creator_, X), match_features(features.match_, X)
    return pd.concat([creator, match], axis=1)[list(FEATURES)].astype(float)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[name], errors="coerce").astype(float)


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame[name].astype("string").str.strip().str.lower()


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator.where(denominator > 0)


def creator_basics(frame: pd.DataFrame) -> pd.DataFrame:
    followers = _col(frame, "followers")
    likes, comments = _col(frame, "avg_likes"), _col(frame, "avg_comments")
    platform = _text(frame, "platform").map(PLATFORM_CODES)
    tier = pd.Series(contract.tier_of(followers), index=frame.index)
    return pd.DataFrame(
        {
            "log_followers": np.log10(followers + 1),
            "tier_code": tier.map(TIER_CODES).astype(float),
            "platform_code": pd.to_numeric(platform, errors="coerce").astype(float),
            "engagement_rate": _ratio(likes + comments, followers),
            "comment_like_ratio": _ratio(comments, likes),
            "sponsorship_ratio": _ratio(
                _col(frame, "recent_sponsored_posts"), _col(frame, "recent_posts")
            ),
            "recent_posts": _col(frame, "recent_posts"),
            "following_ratio": _ratio(_col(frame, "following"), followers),
            "follower_growth_30d": _col(frame, "follower_growth_30d"),
            "views_per_follower": _ratio(_col(frame, "avg_views"), followers),
            "audience_age_median": _col(frame, "audience_age_median"),
            "audience_female_share": _col(frame, "audience_female_share"),
        },
        index=frame.index,
    )


def _lookup(norms: dict[str, Any], basics: pd.DataFrame) -> pd.Series:
    keys = pd.MultiIndex.from_arrays([basics["platform_code"], basics["tier_code"]])
    by_group = pd.Series(norms["group"], dtype=float)
    group = (
        pd.Series(by_group.reindex(keys).to_numpy(), index=basics.index)
        if len(by_group)
        else pd.Series(np.nan, index=basics.index)
    )
    tier = basics["tier_code"].map(norms["tier"])
    return group.fillna(tier).fillna(norms["all"]).astype(float)


def creator_features(fitted: CreatorFeatures, X: pd.DataFrame) -> pd.DataFrame:
    basics = creator_basics(X)
    relative = pd.DataFrame(
        {
            "engagement_vs_tier": basics["engagement_rate"]
            / _lookup(fitted.engagement_norms_, basics),
            "comment_like_vs_tier": basics["comment_like_ratio"]
            / _lookup(fitted.comment_norms_, basics),
        },
        index=basics.index,
    )
    authenticity = pd.DataFrame(
        {
            "log_following_ratio": np.log10(basics["following_ratio"] + 1e-4),
            "growth": basics["follower_growth_30d"].clip(-1, 5),
            "log_comment_like_vs_tier": np.log10(relative["comment_like_vs_tier"] + 1e-3),
            "log_engagement_vs_tier": np.log10(relative["engagement_vs_tier"] + 1e-3),
        },
        index=basics.index,
    )
    anomaly = -fitted.anomaly_trees_.isolation_score(
        authenticity.fillna(fitted.authenticity_medians_).to_numpy()
    )
    given, followers = _col(X, "price_per_post_usd"), _col(X, "followers")
    if fitted.price_trees_ is not None:
        inputs = pd.concat(
            [basics[["log_followers", "platform_code", "engagement_rate", "views_per_follower"]],
             relative["engagement_vs_tier"]],
            axis=1,
        )  # fmt: skip
        log_price = fitted.price_trees_.predict(inputs)
        estimate = pd.Series(np.exp(log_price), index=X.index) * followers.clip(lower=1)
    else:
        estimate = followers * fitted.price_fallback_
    price = given.where(given.notna(), estimate)
    out = pd.concat([basics, relative], axis=1)
    out["anomaly_score"] = anomaly
    out["price_usd"] = price
    out["price_estimated"] = given.isna().astype(float)
    out["log_price"] = np.log10(price + 1)
    out["price_vs_market"] = _ratio(given, estimate)
    engagements = _col(X, "avg_likes") + _col(X, "avg_comments")
    out["engagements_per_dollar"] = _ratio(engagements, price)
    out["followers_per_dollar"] = _ratio(followers, price)
    return out


def match_features(fitted: MatchFeatures, X: pd.DataFrame) -> pd.DataFrame:
    age = _col(X, "audience_age_median")
    low = _col(X, f"{CAMPAIGN_PREFIX}target_age_min")
    high = _col(X, f"{CAMPAIGN_PREFIX}target_age_max")
    age_gap = (low - age).clip(lower=0).fillna(0) + (age - high).clip(lower=0).fillna(0)
    age_gap = age_gap.where(age.notna() & (low.notna() | high.notna()))
    gender_gap = (
        _col(X, "audience_female_share") - _col(X, f"{CAMPAIGN_PREFIX}target_female_share")
    ).abs()
    objective = _text(X, f"{CAMPAIGN_PREFIX}objective").fillna(contract.DEFAULT_OBJECTIVE)
    return pd.DataFrame(
        {
            **_niche_features(fitted, X),
            "country_match": _country_match(fitted, X),
            "age_gap_years": age_gap.to_numpy(),
            "gender_gap": gender_gap.to_numpy(),
            "log_product_price": np.log10(
                _col(X, f"{CAMPAIGN_PREFIX}product_price_usd").to_numpy() + 1
            ),
            "objective_code": objective.map(OBJECTIVE_CODES).astype(float).to_numpy(),
        },
        index=X.index,
    )


def _niche_features(fitted: MatchFeatures, X: pd.DataFrame) -> dict[str, np.ndarray]:
    prior, affinity = fitted.prior_, fitted.affinity_
    niche = _text(X, "niche").fillna("").reset_index(drop=True)
    campaign_niche = _text(X, f"{CAMPAIGN_PREFIX}niche").fillna("").reset_index(drop=True)
    by_pair = pd.Series(
        list(affinity.values()), index=[a + _PAIR_SEP + b for a, b in affinity], dtype=float
    )
    pair_key = niche + _PAIR_SEP + campaign_niche
    primary_affinity = pair_key.map(by_pair).fillna(prior)
    similarity = fitted.similarity_
    related = pair_key.map(similarity).fillna(0.0 if len(similarity) else np.nan)
    related[niche == campaign_niche] = 1.0
    items = _text(X, "secondary_niches").reset_index(drop=True)
    items = items.str.split(contract.LIST_SEPARATOR).explode().str.strip()
    items = items[items.notna() & (items != "")]
    wanted = campaign_niche.loc[items.index]
    in_secondary = (items == wanted).groupby(level=0).any().reindex(niche.index, fill_value=False)
    secondary_affinity = (
        (items + _PAIR_SEP + wanted).map(by_pair).fillna(prior).groupby(level=0).max()
    ).reindex(niche.index)
    return {
        "niche_exact": (niche == campaign_niche).to_numpy(dtype=float),
        "niche_in_secondary": in_secondary.to_numpy(dtype=float),
        "niche_affinity": primary_affinity.to_numpy(dtype=float),
        "niche_similarity": related.to_numpy(dtype=float),
        "secondary_niche_affinity": secondary_affinity.to_numpy(dtype=float),
    }


def _country_match(fitted: MatchFeatures, X: pd.DataFrame) -> np.ndarray:
    country = _text(X, "audience_country")
    target_country = _text(X, f"{CAMPAIGN_PREFIX}target_country")
    country_match = (country == target_country).astype("Float64").astype(float)
    country_match[target_country.isna().to_numpy()] = 1.0
    unknown = (country.isna() & target_country.notna()).to_numpy()
    no_share = fitted.unseen_country_share_ if len(fitted.country_shares_) else np.nan
    shares = target_country[unknown].map(fitted.country_shares_).fillna(no_share)
    country_match[unknown] = shares.to_numpy(dtype=float)
    return country_match.to_numpy()
