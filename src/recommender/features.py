"""Feature engineering: pure DataFrame -> DataFrame scikit-learn transformers.

The input is a pair frame (schema.pair_frame): one row per (campaign, creator),
the creator's contract columns as they are and the campaign's under a
`campaign_` prefix. `PairFeatures` turns it into the numeric features every
model reads (FEATURES, in that order); the same fitted transformer runs in
training and scoring. A missing optional column makes its features NaN, never
an error: LightGBM treats NaN as "unknown" and learns what to do with it.

Everything here is learned from the data it is fitted on (tier norms, the
price model, the anomaly detector, niche-pair affinities); nothing encodes how
any particular market was generated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from recommender import schema
from recommender.schema import CAMPAIGN_PREFIX, require_pair_frame
from recommender.trees import Trees

_PAIR_SEP = "\x1f"  # joins (creator niche, campaign niche) into one lookup key
PLATFORM_CODES = {name: i for i, name in enumerate(schema.PLATFORMS)}
OBJECTIVE_CODES = {name: i for i, name in enumerate(schema.OBJECTIVES)}
TIER_CODES = {name: i for i, name in enumerate(schema.TIERS)}
# Pseudo-count of the niche-pair affinity's prior: pairs seen fewer times lean on it.
AFFINITY_SMOOTHING = 5.0


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column, or all-NaN when the export does not carry it."""
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[name], errors="coerce").astype(float)


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    """A text column stripped and lower-cased, or all-missing when the export does not carry it."""
    if name not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame[name].astype("string").str.strip().str.lower()


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, NaN where the denominator is 0 or unknown."""
    return numerator / denominator.where(denominator > 0)


def one_row_per_creator(frame: pd.DataFrame) -> pd.DataFrame:
    """A pair frame's creators, each once (a creator hired twice counts once in norms)."""
    return frame.drop_duplicates("creator_id") if "creator_id" in frame.columns else frame


def sponsorship_ratio(frame: pd.DataFrame) -> pd.Series:
    """Sponsored share of recent posts; NaN where either count is unknown or no post was made."""
    return _ratio(_col(frame, "recent_sponsored_posts"), _col(frame, "recent_posts"))


def creator_basics(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-creator features computed row by row, with no fitted state."""
    followers = _col(frame, "followers")
    likes, comments = _col(frame, "avg_likes"), _col(frame, "avg_comments")
    posts = _col(frame, "recent_posts")
    platform = _text(frame, "platform").map(PLATFORM_CODES)
    tier = pd.Series(schema.tier_of(followers), index=frame.index)
    return pd.DataFrame(
        {
            "log_followers": np.log10(followers + 1),
            "tier_code": tier.map(TIER_CODES).astype(float),
            "platform_code": pd.to_numeric(platform, errors="coerce").astype(float),
            "engagement_rate": _ratio(likes + comments, followers),
            "comment_like_ratio": _ratio(comments, likes),
            "sponsorship_ratio": sponsorship_ratio(frame),
            "recent_posts": posts,
            "following_ratio": _ratio(_col(frame, "following"), followers),
            "follower_growth_30d": _col(frame, "follower_growth_30d"),
            "views_per_follower": _ratio(_col(frame, "avg_views"), followers),
            "audience_age_median": _col(frame, "audience_age_median"),
            "audience_female_share": _col(frame, "audience_female_share"),
        },
        index=frame.index,
    )


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
        basics = creator_basics(creators)
        keys = basics[["platform_code", "tier_code"]]
        self.engagement_norms_ = self._norms(basics, keys, "engagement_rate")
        self.comment_norms_ = self._norms(basics, keys, "comment_like_ratio")
        relative = self._relative(basics)
        authenticity = self._authenticity_inputs(basics, relative)
        self.authenticity_medians_ = authenticity.median().fillna(0.0)
        self.anomaly_ = IsolationForest(n_estimators=100, random_state=self.random_state)
        filled = authenticity.fillna(self.authenticity_medians_).to_numpy()
        self.anomaly_.fit(filled)
        # The score above which an account is among the 10% most unusual of the market.
        self.anomaly_trees_ = Trees.from_isolation_forest(self.anomaly_)
        anomaly = -self.anomaly_trees_.isolation_score(filled)
        self.anomaly_threshold_ = float(np.quantile(anomaly, 0.9))
        self._fit_price(X, creators, self._price_inputs(basics, relative))
        return self

    def _fit_price(self, X: pd.DataFrame, creators: pd.DataFrame, inputs: pd.DataFrame) -> None:
        """The price model: log price per follower, from creators whose price is known."""
        price = _col(creators, "price_per_post_usd")
        if "cost_usd" in creators.columns:  # what was actually paid also tells the price
            paid = X.groupby("creator_id")["cost_usd"].median() if "creator_id" in X else None
            if paid is not None:
                price = price.fillna(creators["creator_id"].map(paid).astype(float))
        known = price.notna() & (price > 0)
        followers = _col(creators, "followers")
        self.price_model_: Any = None  # a LightGBM regressor once there are prices to learn
        self.price_trees_: Trees | None = None
        self.price_fallback_ = float(
            np.nanmedian(_ratio(price[known], followers[known])) if known.any() else np.nan
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

    def _relative(self, basics: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "engagement_vs_tier": basics["engagement_rate"]
                / self._lookup(self.engagement_norms_, basics),
                "comment_like_vs_tier": basics["comment_like_ratio"]
                / self._lookup(self.comment_norms_, basics),
            },
            index=basics.index,
        )

    @staticmethod
    def _authenticity_inputs(basics: pd.DataFrame, relative: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "log_following_ratio": np.log10(basics["following_ratio"] + 1e-4),
                "growth": basics["follower_growth_30d"].clip(-1, 5),
                "log_comment_like_vs_tier": np.log10(relative["comment_like_vs_tier"] + 1e-3),
                "log_engagement_vs_tier": np.log10(relative["engagement_vs_tier"] + 1e-3),
            },
            index=basics.index,
        )

    @staticmethod
    def _price_inputs(basics: pd.DataFrame, relative: pd.DataFrame) -> pd.DataFrame:
        return pd.concat(
            [basics[["log_followers", "platform_code", "engagement_rate", "views_per_follower"]],
             relative["engagement_vs_tier"]],
            axis=1,
        )  # fmt: skip

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """CREATOR_FEATURES of each row of the pair frame X (NaN where unknown)."""
        check_is_fitted(self, "anomaly_trees_")
        X = require_pair_frame(X, type(self).__name__)
        basics = creator_basics(X)
        relative = self._relative(basics)
        authenticity = self._authenticity_inputs(basics, relative)
        # IsolationForest scores higher for normal points; flip so higher = more suspect.
        anomaly = -self.anomaly_trees_.isolation_score(
            authenticity.fillna(self.authenticity_medians_).to_numpy()
        )
        given = _col(X, "price_per_post_usd")
        followers = _col(X, "followers")
        if self.price_trees_ is not None:
            log_price = self.price_trees_.predict(self._price_inputs(basics, relative))
            estimate = pd.Series(np.exp(log_price), index=X.index) * followers.clip(lower=1)
        else:
            estimate = followers * self.price_fallback_
        price = given.where(given.notna(), estimate)
        out = pd.concat([basics, relative], axis=1)
        out["anomaly_score"] = anomaly
        out["price_usd"] = price
        out["price_estimated"] = given.isna().astype(float)
        out["log_price"] = np.log10(price + 1)
        out["price_vs_market"] = _ratio(given, estimate)  # asking price / what peers ask
        engagements = _col(X, "avg_likes") + _col(X, "avg_comments")
        out["engagements_per_dollar"] = _ratio(engagements, price)
        out["followers_per_dollar"] = _ratio(followers, price)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of transform's columns."""
        return np.asarray(CREATOR_FEATURES, dtype=object)


def niche_similarity(X: pd.DataFrame) -> pd.Series:
    """How related two niches are, from the creators themselves: keyed 'a<sep>b'.

    The share of creators of primary niche a who list b among their secondary
    niches, averaged with the same share from b to a. Creators who post about
    both tell which niches share an audience, with no outcome needed. Empty
    when no creator lists secondary niches.
    """
    creators = one_row_per_creator(X)
    primary = _text(creators, "niche").reset_index(drop=True)
    items = _text(creators, "secondary_niches").reset_index(drop=True)
    listed = items.notna() & primary.notna()
    items = items[listed].str.split(schema.LIST_SEPARATOR).explode().str.strip()
    items = items[items.notna() & (items != "")]
    if items.empty:
        return pd.Series(dtype=float)
    listing = primary[listed].value_counts()
    links = pd.crosstab(primary.loc[items.index].to_numpy(), items.to_numpy())
    share = links.div(listing.reindex(links.index), axis=0).stack()
    pairs = [(str(a), str(b)) for a, b in share.index]
    forward = pd.Series(share.to_numpy(), index=[a + _PAIR_SEP + b for a, b in pairs])
    backward = pd.Series(share.to_numpy(), index=[b + _PAIR_SEP + a for a, b in pairs])
    # A direction no creator could show (b's creators list nothing) does not count.
    return pd.concat([forward, backward], axis=1).mean(axis=1).astype(float)


class MatchFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """How a creator matches a campaign: niche match, learned niche affinity, audience match.

    Niche-pair affinity is a smoothed mean of a success signal `y` (0..1, e.g.
    the within-campaign percentile of a hire's measured return) for each pair
    (creator niche, campaign niche) seen in the outcomes; unseen pairs get the
    prior. Like sklearn's TargetEncoder, `fit_transform` encodes training rows
    out of fold (grouped by campaign) so a row never sees its own outcome.
    """

    def __init__(self, smoothing: float = AFFINITY_SMOOTHING, n_splits: int = 5) -> None:
        self.smoothing = smoothing
        self.n_splits = n_splits

    def fit(self, X: pd.DataFrame, y: Any = None) -> MatchFeatures:
        """Learn niche affinities from `y` (None: every pair gets 0.5), niche similarity
        from the creators' secondary niches, and audience country shares."""
        X = require_pair_frame(X, type(self).__name__)
        self.prior_, self.affinity_ = self._affinity(X, y)
        creators = one_row_per_creator(X)
        self.similarity_ = niche_similarity(creators)
        countries = _text(creators, "audience_country")
        self.country_shares_ = countries.value_counts(normalize=True)
        # A target no creator's audience is known in is rare, not impossible.
        self.unseen_country_share_ = 1 / (countries.notna().sum() + 1)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Fit, then transform X with each row's affinity learned without its own campaign."""
        self.fit(X, y)
        if y is None or "campaign_id" not in X.columns:
            return self.transform(X)
        groups = X["campaign_id"].to_numpy()
        n_splits = min(self.n_splits, len(np.unique(groups)))
        if n_splits < 2:
            return self.transform(X)
        parts = []
        target = np.asarray(y, dtype=float)
        for train, test in GroupKFold(n_splits=n_splits).split(X, groups=groups):
            prior, affinity = self._affinity(X.iloc[train], target[train])
            parts.append(self._features(X.iloc[test], prior, affinity))
        return pd.concat(parts).loc[X.index]

    def _affinity(self, X: pd.DataFrame, y: Any) -> tuple[float, dict[tuple[str, str], float]]:
        if y is None:
            return 0.5, {}
        target = pd.Series(np.asarray(y, dtype=float), index=X.index)
        prior = float(target.mean()) if target.notna().any() else 0.5
        keys = [_text(X, "niche"), _text(X, f"{CAMPAIGN_PREFIX}niche")]
        stats = target.groupby(keys).agg(["sum", "count"])
        smoothed = (stats["sum"] + self.smoothing * prior) / (stats["count"] + self.smoothing)
        pairs = zip(
            smoothed.index.get_level_values(0), smoothed.index.get_level_values(1), strict=True
        )
        return prior, {
            (str(a), str(b)): float(v) for (a, b), v in zip(pairs, smoothed, strict=True)
        }

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """MATCH_FEATURES of each row of the pair frame X (NaN where unknown)."""
        check_is_fitted(self, "affinity_")
        X = require_pair_frame(X, type(self).__name__)
        return self._features(X, self.prior_, self.affinity_)

    def _features(
        self, X: pd.DataFrame, prior: float, affinity: dict[tuple[str, str], float]
    ) -> pd.DataFrame:
        niches = self._niche_features(X, prior, affinity)
        age = _col(X, "audience_age_median")
        low = _col(X, f"{CAMPAIGN_PREFIX}target_age_min")
        high = _col(X, f"{CAMPAIGN_PREFIX}target_age_max")
        age_gap = (low - age).clip(lower=0).fillna(0) + (age - high).clip(lower=0).fillna(0)
        age_gap = age_gap.where(age.notna() & (low.notna() | high.notna()))
        gender_gap = (
            _col(X, "audience_female_share") - _col(X, f"{CAMPAIGN_PREFIX}target_female_share")
        ).abs()
        objective = _text(X, f"{CAMPAIGN_PREFIX}objective").fillna(schema.DEFAULT_OBJECTIVE)
        return pd.DataFrame(
            {
                **niches,
                "country_match": self._country_match(X),
                "age_gap_years": age_gap.to_numpy(),
                "gender_gap": gender_gap.to_numpy(),
                "log_product_price": np.log10(
                    _col(X, f"{CAMPAIGN_PREFIX}product_price_usd").to_numpy() + 1
                ),
                "objective_code": objective.map(OBJECTIVE_CODES).astype(float).to_numpy(),
            },
            index=X.index,
        )

    def _niche_features(
        self, X: pd.DataFrame, prior: float, affinity: dict[tuple[str, str], float]
    ) -> dict[str, np.ndarray]:
        """Exact match, learned affinity and similarity of the creator's niches to the campaign."""
        # Positions, not X's index, line the explode and groupby below up with the rows.
        niche = _text(X, "niche").fillna("").reset_index(drop=True)
        campaign_niche = _text(X, f"{CAMPAIGN_PREFIX}niche").fillna("").reset_index(drop=True)
        by_pair = pd.Series(
            list(affinity.values()), index=[a + _PAIR_SEP + b for a, b in affinity], dtype=float
        )
        pair_key = niche + _PAIR_SEP + campaign_niche
        primary_affinity = pair_key.map(by_pair).fillna(prior)
        # Pairs no creator links are unrelated (0); unknown when the export has no lists.
        related = pair_key.map(self.similarity_).fillna(0.0 if len(self.similarity_) else np.nan)
        related[niche == campaign_niche] = 1.0
        # One row per (pair, secondary niche), then the best of each pair.
        items = _text(X, "secondary_niches").reset_index(drop=True)
        items = items.str.split(schema.LIST_SEPARATOR).explode().str.strip()
        items = items[items.notna() & (items != "")]
        wanted = campaign_niche.loc[items.index]
        in_secondary = (
            (items == wanted).groupby(level=0).any().reindex(niche.index, fill_value=False)
        )
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

    def _country_match(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the audience's country is the target, or the campaign targets no country
        (nothing to miss); 0 where it is elsewhere. Where the audience's country is
        unknown: the chance that it is the target, the target's share among the market's
        creators. "Unknown" is then neither a match nor a miss, which is what it is."""
        country = _text(X, "audience_country")
        target_country = _text(X, f"{CAMPAIGN_PREFIX}target_country")
        country_match = (country == target_country).astype("Float64").astype(float)
        country_match[target_country.isna().to_numpy()] = 1.0
        unknown = (country.isna() & target_country.notna()).to_numpy()
        # NaN when no creator's country is known at all: then there is no market to ask.
        no_share = self.unseen_country_share_ if len(self.country_shares_) else np.nan
        shares = target_country[unknown].map(self.country_shares_).fillna(no_share)
        country_match[unknown] = shares.to_numpy(dtype=float)
        return country_match.to_numpy()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of transform's columns."""
        return np.asarray(MATCH_FEATURES, dtype=object)


CREATOR_FEATURES = (
    "log_followers", "tier_code", "platform_code", "engagement_rate", "comment_like_ratio",
    "sponsorship_ratio", "recent_posts", "following_ratio", "follower_growth_30d",
    "views_per_follower", "audience_age_median", "audience_female_share", "engagement_vs_tier",
    "comment_like_vs_tier", "anomaly_score", "price_usd", "price_estimated", "log_price",
    "price_vs_market", "engagements_per_dollar", "followers_per_dollar",
)  # fmt: skip
MATCH_FEATURES = (
    "niche_exact", "niche_in_secondary", "niche_affinity", "niche_similarity",
    "secondary_niche_affinity",
    "country_match", "age_gap_years", "gender_gap", "log_product_price", "objective_code",
)  # fmt: skip
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
        return self._join(self.creator_.transform(X), match)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """FEATURES of each row of the pair frame X, as floats (NaN where unknown)."""
        check_is_fitted(self, "match_")
        X = require_pair_frame(X, type(self).__name__)
        return self._join(self.creator_.transform(X), self.match_.transform(X))

    @property
    def anomaly_threshold(self) -> float:
        """The anomaly score above which an account is among the market's 10% most unusual."""
        check_is_fitted(self, "creator_")
        return float(self.creator_.anomaly_threshold_)

    @staticmethod
    def _join(creator: pd.DataFrame, match: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([creator, match], axis=1)[list(FEATURES)].astype(float)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of transform's columns (FEATURES)."""
        return np.asarray(FEATURES, dtype=object)
