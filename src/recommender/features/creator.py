"""Features of a creator alone: size, engagement against the tier's norm, sponsorship, price
against a learned price model, and how unusual the account looks (fake followers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import IsolationForest
from sklearn.utils.validation import check_is_fitted

from recommender import contract
from recommender._trees import Trees
from recommender.contract import require_pair_frame
from recommender.features import _columns as cols

PLATFORM_CODES = {name: i for i, name in enumerate(contract.PLATFORMS)}


TIER_CODES = {name: i for i, name in enumerate(contract.TIERS)}


def one_row_per_creator(frame: pd.DataFrame) -> pd.DataFrame:
    """A pair frame's creators, each once (a creator hired twice counts once in norms)."""
    return frame.drop_duplicates("creator_id") if "creator_id" in frame.columns else frame


def sponsorship_ratio(frame: pd.DataFrame) -> pd.Series:
    """Sponsored share of recent posts; NaN where either count is unknown or no post was made."""
    return cols.ratio(cols.col(frame, "recent_sponsored_posts"), cols.col(frame, "recent_posts"))


def creator_basics(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-creator features computed row by row, with no fitted state."""
    return pd.DataFrame(
        _basics(frame, cols.texts(frame, ["platform"])["platform"]), index=frame.index
    )


def _basics(frame: pd.DataFrame, platform: cols.Coded) -> dict[str, np.ndarray]:
    """creator_basics' columns as arrays; `platform` is the frame's platform, coded."""
    followers = cols.numbers(frame, "followers")
    likes, comments = cols.numbers(frame, "avg_likes"), cols.numbers(frame, "avg_comments")
    posts = cols.numbers(frame, "recent_posts")
    with np.errstate(all="ignore"):  # as pandas's arithmetic
        engagements = likes + comments
    return {
        "log_followers": np.log10(followers + 1),
        "tier_code": cols.mapped(cols.coded(contract.tier_of(followers)), TIER_CODES),
        "platform_code": cols.mapped(platform, PLATFORM_CODES),
        "engagement_rate": cols.ratio_of(engagements, followers),
        "comment_like_ratio": cols.ratio_of(comments, likes),
        "sponsorship_ratio": cols.ratio_of(cols.numbers(frame, "recent_sponsored_posts"), posts),
        "recent_posts": posts,
        "following_ratio": cols.ratio_of(cols.numbers(frame, "following"), followers),
        "follower_growth_30d": cols.numbers(frame, "follower_growth_30d"),
        "views_per_follower": cols.ratio_of(cols.numbers(frame, "avg_views"), followers),
        "audience_age_median": cols.numbers(frame, "audience_age_median"),
        "audience_female_share": cols.numbers(frame, "audience_female_share"),
    }


class CreatorFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Creator features that need norms learned from a market.

    - engagement and comments-per-like relative to creators of the same platform
      and tier (medians fitted on the training creators);
    - an authenticity anomaly score from an IsolationForest over the fake-follower
      tell-tales (following ratio, growth, comment ratio, relative engagement);
    - the price per post: the creator's own asking price when given, else one
      estimated by a model fitted on creators whose price (or paid cost) is known;
      then cost efficiency (engagements and followers per dollar).
    """

    def __init__(self, random_state: int | None = 0) -> None:
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any = None) -> CreatorFeatures:
        """Learn the market's norms, anomaly detector and price model from the pairs' creators.

        `y` is ignored. Each creator counts once, however often it was hired.
        """
        X = require_pair_frame(X, type(self).__name__)
        creators = one_row_per_creator(X)
        columns = _basics(creators, cols.texts(creators, ["platform"])["platform"])
        basics = pd.DataFrame(columns, index=creators.index)
        keys = basics[["platform_code", "tier_code"]]
        self.engagement_norms_ = self._norms(basics, keys, "engagement_rate")
        self.comment_norms_ = self._norms(basics, keys, "comment_like_ratio")
        relative = self._relative(columns)
        authenticity = pd.DataFrame(
            self._authenticity_inputs(columns, relative), index=creators.index
        )
        self.authenticity_medians_ = authenticity.median().fillna(0.0)
        self.anomaly_ = IsolationForest(n_estimators=100, random_state=self.random_state)
        filled = authenticity.fillna(self.authenticity_medians_).to_numpy()
        self.anomaly_.fit(filled)
        # The score above which an account is among the 10% most unusual of the market.
        self.anomaly_trees_ = Trees.from_isolation_forest(self.anomaly_)
        anomaly = -self.anomaly_trees_.isolation_score(filled)
        self.anomaly_threshold_ = float(np.quantile(anomaly, 0.9))
        inputs = pd.DataFrame(self._price_inputs(columns, relative), index=creators.index)
        self._fit_price(X, creators, inputs)
        return self

    def _fit_price(self, X: pd.DataFrame, creators: pd.DataFrame, inputs: pd.DataFrame) -> None:
        """The price model: log price per follower, from creators whose price is known."""
        price = cols.col(creators, "price_per_post_usd")
        if "cost_usd" in creators.columns:  # what was actually paid also tells the price
            paid = X.groupby("creator_id")["cost_usd"].median() if "creator_id" in X else None
            if paid is not None:
                price = price.fillna(creators["creator_id"].map(paid).astype(float))
        known = price.notna() & (price > 0)
        followers = cols.col(creators, "followers")
        self.price_model_: Any = None  # a LightGBM regressor once there are prices to learn
        self.price_trees_: Trees | None = None
        self.price_fallback_ = float(
            np.nanmedian(cols.ratio(price[known], followers[known])) if known.any() else np.nan
        )
        if known.sum() < 50:
            return
        from lightgbm import LGBMRegressor  # only here: the features need the kernel, not it

        # Price per follower, not price: trees cannot extrapolate, and a creator
        # bigger than any priced one should cost more, not the same.
        per_follower = followers.clip(lower=1)
        self.price_model_ = LGBMRegressor(
            n_estimators=100,
            learning_rate=0.1,
            num_leaves=15,
            min_child_samples=20,
            random_state=self.random_state,
            deterministic=True,
            force_row_wise=True,
            n_jobs=1,
            verbose=-1,
        ).fit(inputs[known.to_numpy()], np.log(price[known] / per_follower[known]))
        self.price_trees_ = Trees.from_lightgbm(self.price_model_.booster_)

    @staticmethod
    def _norms(basics: pd.DataFrame, keys: pd.DataFrame, column: str) -> dict[str, Any]:
        values = basics[column].where(basics[column] > 0)
        by_group = values.groupby([keys["platform_code"], keys["tier_code"]]).median()
        by_tier = values.groupby(keys["tier_code"]).median()
        return {"group": by_group.to_dict(), "tier": by_tier.to_dict(), "all": values.median()}

    @staticmethod
    def _lookup(norms: dict[str, Any], keys: tuple[cols.Coded, cols.Coded]) -> np.ndarray:
        """Each row's norm: its (platform, tier) group's, else its tier's, else the market's."""
        by_group, by_tier, overall = norms["group"], norms["tier"], norms["all"]

        def norm(platform: float | None, tier: float | None) -> tuple[float]:
            value = by_group.get((platform, tier), np.nan)
            value = by_tier.get(tier, np.nan) if value != value else value
            return (float(overall if value != value else value),)

        return cols.each_distinct(norm, 1, *keys)[:, 0]

    def _relative(self, basics: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys = (cols.coded(basics["platform_code"]), cols.coded(basics["tier_code"]))
        with np.errstate(all="ignore"):  # as pandas's arithmetic
            return {
                "engagement_vs_tier": basics["engagement_rate"]
                / self._lookup(self.engagement_norms_, keys),
                "comment_like_vs_tier": basics["comment_like_ratio"]
                / self._lookup(self.comment_norms_, keys),
            }

    @staticmethod
    def _authenticity_inputs(
        basics: Mapping[str, np.ndarray], relative: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        return {
            "log_following_ratio": np.log10(basics["following_ratio"] + 1e-4),
            "growth": np.clip(basics["follower_growth_30d"], -1, 5),
            "log_comment_like_vs_tier": np.log10(relative["comment_like_vs_tier"] + 1e-3),
            "log_engagement_vs_tier": np.log10(relative["engagement_vs_tier"] + 1e-3),
        }

    @staticmethod
    def _price_inputs(
        basics: Mapping[str, np.ndarray], relative: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        known = ("log_followers", "platform_code", "engagement_rate", "views_per_follower")
        return {**{name: basics[name] for name in known},
                "engagement_vs_tier": relative["engagement_vs_tier"]}  # fmt: skip

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """CREATOR_FEATURES of each row of the pair frame X (NaN where unknown)."""
        check_is_fitted(self, "anomaly_trees_")
        X = require_pair_frame(X, type(self).__name__)
        return pd.DataFrame(
            self._columns(X, cols.texts(X, ["platform"])["platform"]), index=X.index
        )

    def _columns(self, X: pd.DataFrame, platform: cols.Coded) -> dict[str, np.ndarray]:
        """CREATOR_FEATURES of each row of X as arrays; `platform` is X's platform, coded."""
        basics = _basics(X, platform)
        relative = self._relative(basics)
        authenticity = self._authenticity_inputs(basics, relative)
        medians = self.authenticity_medians_
        filled = np.column_stack([np.where(np.isnan(values), medians[name], values)
                                  for name, values in authenticity.items()])  # fmt: skip
        # IsolationForest scores higher for normal points; flip so higher = more suspect.
        anomaly = -self.anomaly_trees_.isolation_score(filled)
        given = cols.numbers(X, "price_per_post_usd")
        followers = cols.numbers(X, "followers")
        if self.price_trees_ is not None:
            inputs = np.column_stack(list(self._price_inputs(basics, relative).values()))
            estimate = np.exp(self.price_trees_.predict(inputs)) * np.maximum(followers, 1)
        else:
            estimate = followers * self.price_fallback_
        price = np.where(np.isnan(given), estimate, given)
        engagements = cols.numbers(X, "avg_likes") + cols.numbers(X, "avg_comments")
        return {
            **basics,
            **relative,
            "anomaly_score": anomaly,
            "price_usd": price,
            "price_estimated": np.isnan(given).astype(float),
            "log_price": np.log10(price + 1),
            "price_vs_market": cols.ratio_of(given, estimate),  # asking price / what peers ask
            "engagements_per_dollar": cols.ratio_of(engagements, price),
            "followers_per_dollar": cols.ratio_of(followers, price),
        }

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of transform's columns."""
        return np.asarray(CREATOR_FEATURES, dtype=object)


CREATOR_FEATURES = (
    "log_followers", "tier_code", "platform_code", "engagement_rate", "comment_like_ratio",
    "sponsorship_ratio", "recent_posts", "following_ratio", "follower_growth_30d",
    "views_per_follower", "audience_age_median", "audience_female_share", "engagement_vs_tier",
    "comment_like_vs_tier", "anomaly_score", "price_usd", "price_estimated", "log_price",
    "price_vs_market", "engagements_per_dollar", "followers_per_dollar",
)  # fmt: skip
