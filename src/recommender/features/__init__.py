"""Feature engineering: pure DataFrame -> DataFrame scikit-learn transformers.

The input is a pair frame (contract.pair_frame): one row per (campaign, creator),
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

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from recommender import contract
from recommender._trees import Trees
from recommender.contract import CAMPAIGN_PREFIX, require_pair_frame

_PAIR_SEP = "\x1f"  # joins (creator niche, campaign niche) into one lookup key
PLATFORM_CODES = {name: i for i, name in enumerate(contract.PLATFORMS)}
OBJECTIVE_CODES = {name: i for i, name in enumerate(contract.OBJECTIVES)}
TIER_CODES = {name: i for i, name in enumerate(contract.TIERS)}
# Pseudo-count of the niche-pair affinity's prior: pairs seen fewer times lean on it.
AFFINITY_SMOOTHING = 5.0


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column, or all-NaN when the export does not carry it."""
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[name], errors="coerce").astype(float)


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    """`_col`'s values as an array (read-only: it may be the frame's own)."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    column = frame[name]
    if column.dtype.kind in "fiu":  # numbers already, which to_numeric leaves as they are
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").astype(float).to_numpy()


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    """A text column stripped and lower-cased, or all-missing when the export does not carry it."""
    if name not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    return _cleaned(frame[name])


def _cleaned(texts: pd.Series) -> pd.Series:
    """Texts stripped and lower-cased (missing where missing)."""
    return texts.astype("string").str.strip().str.lower()


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator (on one index), NaN where the denominator is 0 or unknown."""
    quotient = _ratio_of(numerator.to_numpy(dtype=float), denominator.to_numpy(dtype=float))
    return pd.Series(quotient, index=numerator.index)


def _ratio_of(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """`_ratio` of arrays."""
    with np.errstate(all="ignore"):  # as pandas's arithmetic: inf and NaN say it all
        return np.asarray(numerator / np.where(denominator > 0, denominator, np.nan))


class _Coded(NamedTuple):
    """A column as codes into its distinct values: row i holds values[codes[i]], or is
    missing (None) where codes[i] is -1. What is computed from the values is then computed
    once per distinct value, however many rows share it."""

    codes: np.ndarray
    values: list[Any]

    def at(self, code: int) -> Any:
        """The value of a code (None for -1)."""
        return self.values[code] if code >= 0 else None


def _coded(values: np.ndarray) -> _Coded:
    """An array (NaN or None where missing) as a _Coded column."""
    codes, distinct = pd.factorize(values)
    return _Coded(codes, np.asarray(distinct).tolist())


def _texts(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, _Coded]:
    """`_text` of each named column, coded: the strip and lower-case run once over the
    distinct texts of all the columns together, not over every row of each.

    The texts go through the very pandas string methods `_text` uses (whose rules depend
    on the string storage); a column holding anything but text is read by `_text` itself.
    """
    coded: dict[str, _Coded] = {}
    given: dict[str, tuple[np.ndarray, list[Any]]] = {}
    for name in names:
        if name not in frame.columns:
            coded[name] = _Coded(np.full(len(frame), -1, dtype=np.intp), [])
        elif pd.api.types.infer_dtype(frame[name], skipna=True) in ("string", "empty"):
            # (the cells as objects factorize alike, missing as missing, at half the cost)
            codes, uniques = pd.factorize(frame[name].to_numpy(dtype=object))
            given[name] = (codes, np.asarray(uniques, dtype=object).tolist())
        else:  # numbers or mixed types: to text as astype("string") writes them
            coded[name] = _coded(np.asarray(_strings(_text(frame, name)), dtype=object))
    everything = [text for _, distinct in given.values() for text in distinct]
    read = _strings(_cleaned(pd.Series(everything, dtype=object))) if everything else []
    for name, (codes, distinct) in given.items():
        coded[name], read = _Coded(codes, read[: len(distinct)]), read[len(distinct) :]
    return {name: coded[name] for name in names}


def _strings(texts: pd.Series) -> list[str | None]:
    """Cleaned texts as Python strings, None where missing."""
    return [text if isinstance(text, str) else None for text in texts.tolist()]


def _mapped(column: _Coded, table: Mapping[Any, float], missing: float = np.nan) -> np.ndarray:
    """table[value] of each row's value: NaN where the table lacks it, `missing` where the
    row has none (as Series.map with a dict, then fillna(missing))."""
    found = [table.get(value, np.nan) for value in column.values]
    return np.asarray(np.asarray([*found, missing], dtype=float)[column.codes])


def _each_distinct(
    compute: Callable[..., tuple[float, ...]], width: int, *columns: _Coded
) -> np.ndarray:
    """compute(*values) -> `width` numbers for each row, called once for each distinct
    combination of the columns' values (None where missing); one row of floats per row."""
    combined = np.zeros(len(columns[0].codes), dtype=np.int64)
    for column in columns:
        combined = combined * (len(column.values) + 1) + (column.codes + 1)
    rows, keys = pd.factorize(combined)
    results = []
    for key in keys.tolist():
        codes = []
        for column in reversed(columns):
            key, code = divmod(key, len(column.values) + 1)
            codes.append(code - 1)
        values = [column.at(code) for column, code in zip(columns, reversed(codes), strict=True)]
        results.append(compute(*values))
    return np.asarray(results, dtype=float).reshape(len(keys), width)[rows]


def one_row_per_creator(frame: pd.DataFrame) -> pd.DataFrame:
    """A pair frame's creators, each once (a creator hired twice counts once in norms)."""
    return frame.drop_duplicates("creator_id") if "creator_id" in frame.columns else frame


def sponsorship_ratio(frame: pd.DataFrame) -> pd.Series:
    """Sponsored share of recent posts; NaN where either count is unknown or no post was made."""
    return _ratio(_col(frame, "recent_sponsored_posts"), _col(frame, "recent_posts"))


def creator_basics(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-creator features computed row by row, with no fitted state."""
    return pd.DataFrame(_basics(frame, _texts(frame, ["platform"])["platform"]), index=frame.index)


def _basics(frame: pd.DataFrame, platform: _Coded) -> dict[str, np.ndarray]:
    """creator_basics' columns as arrays; `platform` is the frame's platform, coded."""
    followers = _numbers(frame, "followers")
    likes, comments = _numbers(frame, "avg_likes"), _numbers(frame, "avg_comments")
    posts = _numbers(frame, "recent_posts")
    with np.errstate(all="ignore"):  # as pandas's arithmetic
        engagements = likes + comments
    return {
        "log_followers": np.log10(followers + 1),
        "tier_code": _mapped(_coded(contract.tier_of(followers)), TIER_CODES),
        "platform_code": _mapped(platform, PLATFORM_CODES),
        "engagement_rate": _ratio_of(engagements, followers),
        "comment_like_ratio": _ratio_of(comments, likes),
        "sponsorship_ratio": _ratio_of(_numbers(frame, "recent_sponsored_posts"), posts),
        "recent_posts": posts,
        "following_ratio": _ratio_of(_numbers(frame, "following"), followers),
        "follower_growth_30d": _numbers(frame, "follower_growth_30d"),
        "views_per_follower": _ratio_of(_numbers(frame, "avg_views"), followers),
        "audience_age_median": _numbers(frame, "audience_age_median"),
        "audience_female_share": _numbers(frame, "audience_female_share"),
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
        columns = _basics(creators, _texts(creators, ["platform"])["platform"])
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
    def _lookup(norms: dict[str, Any], keys: tuple[_Coded, _Coded]) -> np.ndarray:
        """Each row's norm: its (platform, tier) group's, else its tier's, else the market's."""
        by_group, by_tier, overall = norms["group"], norms["tier"], norms["all"]

        def norm(platform: float | None, tier: float | None) -> tuple[float]:
            value = by_group.get((platform, tier), np.nan)
            value = by_tier.get(tier, np.nan) if value != value else value
            return (float(overall if value != value else value),)

        return _each_distinct(norm, 1, *keys)[:, 0]

    def _relative(self, basics: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys = (_coded(basics["platform_code"]), _coded(basics["tier_code"]))
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
        return pd.DataFrame(self._columns(X, _texts(X, ["platform"])["platform"]), index=X.index)

    def _columns(self, X: pd.DataFrame, platform: _Coded) -> dict[str, np.ndarray]:
        """CREATOR_FEATURES of each row of X as arrays; `platform` is X's platform, coded."""
        basics = _basics(X, platform)
        relative = self._relative(basics)
        authenticity = self._authenticity_inputs(basics, relative)
        medians = self.authenticity_medians_
        filled = np.column_stack([np.where(np.isnan(values), medians[name], values)
                                  for name, values in authenticity.items()])  # fmt: skip
        # IsolationForest scores higher for normal points; flip so higher = more suspect.
        anomaly = -self.anomaly_trees_.isolation_score(filled)
        given = _numbers(X, "price_per_post_usd")
        followers = _numbers(X, "followers")
        if self.price_trees_ is not None:
            inputs = np.column_stack(list(self._price_inputs(basics, relative).values()))
            estimate = np.exp(self.price_trees_.predict(inputs)) * np.maximum(followers, 1)
        else:
            estimate = followers * self.price_fallback_
        price = np.where(np.isnan(given), estimate, given)
        engagements = _numbers(X, "avg_likes") + _numbers(X, "avg_comments")
        return {
            **basics,
            **relative,
            "anomaly_score": anomaly,
            "price_usd": price,
            "price_estimated": np.isnan(given).astype(float),
            "log_price": np.log10(price + 1),
            "price_vs_market": _ratio_of(given, estimate),  # asking price / what peers ask
            "engagements_per_dollar": _ratio_of(engagements, price),
            "followers_per_dollar": _ratio_of(followers, price),
        }

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
    items = items[listed].str.split(contract.LIST_SEPARATOR).explode().str.strip()
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


# The text columns MatchFeatures reads.
MATCH_TEXT_COLUMNS = (
    "niche", f"{CAMPAIGN_PREFIX}niche", "secondary_niches", "audience_country",
    f"{CAMPAIGN_PREFIX}target_country", f"{CAMPAIGN_PREFIX}objective",
)  # fmt: skip


def _as_dict(values: pd.Series) -> dict[Any, float]:
    """A Series of floats as a dict (Series.to_dict, without its per-item steps)."""
    numbers = values.to_numpy(dtype=float, na_value=np.nan).tolist()
    return dict(zip(values.index.tolist(), numbers, strict=True))


def _list_items(lists: Sequence[str]) -> list[list[str]]:
    """The items of each `;`-separated list, trimmed, blanks left out (by pandas's own
    string methods, as `_text` cleans the lists)."""
    if not len(lists):
        return []
    items = pd.Series(list(lists), dtype="string").str.split(contract.LIST_SEPARATOR).explode()
    items = items.str.strip()
    items = items[items.notna() & (items != "")]
    out: list[list[str]] = [[] for _ in lists]
    for position, item in zip(items.index.tolist(), items.tolist(), strict=True):
        out[position].append(item)
    return out


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
        columns = self._columns(X, _texts(X, MATCH_TEXT_COLUMNS), prior, affinity)
        return pd.DataFrame(columns, index=X.index)

    def _columns(
        self,
        X: pd.DataFrame,
        texts: Mapping[str, _Coded],
        prior: float,
        affinity: dict[tuple[str, str], float],
    ) -> dict[str, np.ndarray]:
        """MATCH_FEATURES of each row of X as arrays; `texts`: X's MATCH_TEXT_COLUMNS, coded."""
        age = _numbers(X, "audience_age_median")
        low = _numbers(X, f"{CAMPAIGN_PREFIX}target_age_min")
        high = _numbers(X, f"{CAMPAIGN_PREFIX}target_age_max")
        with np.errstate(all="ignore"):  # as pandas's arithmetic
            below, above = low - age, age - high
            gender_gap = np.abs(
                _numbers(X, "audience_female_share")
                - _numbers(X, f"{CAMPAIGN_PREFIX}target_female_share")
            )
        # How far outside the range, on either side (NaN there: not outside it).
        age_gap = np.where(below >= 0, below, 0.0) + np.where(above >= 0, above, 0.0)
        targeted = ~np.isnan(age) & (~np.isnan(low) | ~np.isnan(high))
        default = OBJECTIVE_CODES.get(contract.DEFAULT_OBJECTIVE, np.nan)
        return {
            **self._niche_features(texts, prior, affinity),
            "country_match": self._country_match(texts),
            "age_gap_years": np.where(targeted, age_gap, np.nan),
            "gender_gap": gender_gap,
            "log_product_price": np.log10(_numbers(X, f"{CAMPAIGN_PREFIX}product_price_usd") + 1),
            "objective_code": _mapped(texts[f"{CAMPAIGN_PREFIX}objective"], OBJECTIVE_CODES,
                                      missing=default),
        }  # fmt: skip

    def _niche_features(
        self,
        texts: Mapping[str, _Coded],
        prior: float,
        affinity: dict[tuple[str, str], float],
    ) -> dict[str, np.ndarray]:
        """Exact match, learned affinity and similarity of the creator's niches to the campaign."""
        by_pair = {a + _PAIR_SEP + b: value for (a, b), value in affinity.items()}
        similarity = _as_dict(self.similarity_)
        # Pairs no creator links are unrelated (0); unknown when the export has no lists.
        unrelated = 0.0 if len(self.similarity_) else np.nan

        def learned(key: str) -> float:
            value = by_pair.get(key, np.nan)
            return prior if value != value else float(value)

        def primary(niche: str | None, wanted: str | None) -> tuple[float, float, float]:
            niche, wanted = niche or "", wanted or ""  # a missing niche matches a missing one
            key = niche + _PAIR_SEP + wanted
            related = similarity.get(key, np.nan)
            related = unrelated if related != related else related
            return float(niche == wanted), learned(key), 1.0 if niche == wanted else related

        lists = texts["secondary_niches"]
        items_of = dict(zip(lists.values, _list_items(lists.values), strict=True))

        def secondary(listed: str | None, wanted: str | None) -> tuple[float, float]:
            wanted = wanted or ""
            items = items_of[listed] if listed is not None else []
            affinities = [v for v in (learned(item + _PAIR_SEP + wanted) for item in items)
                          if v == v]  # fmt: skip
            return float(wanted in items), max(affinities) if affinities else np.nan

        campaign = texts[f"{CAMPAIGN_PREFIX}niche"]
        exact, learned_affinity, related = _each_distinct(primary, 3, texts["niche"], campaign).T
        in_secondary, best_secondary = _each_distinct(secondary, 2, lists, campaign).T
        return {
            "niche_exact": exact,
            "niche_in_secondary": in_secondary,
            "niche_affinity": learned_affinity,
            "niche_similarity": related,
            "secondary_niche_affinity": best_secondary,
        }

    def _country_match(self, texts: Mapping[str, _Coded]) -> np.ndarray:
        """1 where the audience's country is the target, or the campaign targets no country
        (nothing to miss); 0 where it is elsewhere. Where the audience's country is
        unknown: the chance that it is the target, the target's share among the market's
        creators. "Unknown" is then neither a match nor a miss, which is what it is."""
        shares = _as_dict(self.country_shares_)
        # NaN when no creator's country is known at all: then there is no market to ask.
        no_share = self.unseen_country_share_ if len(self.country_shares_) else np.nan

        def match(country: str | None, target: str | None) -> tuple[float]:
            if target is None:
                return (1.0,)
            if country is None:
                share = shares.get(target, np.nan)
                return (float(no_share if share != share else share),)
            return (float(country == target),)

        audience, target = texts["audience_country"], texts[f"{CAMPAIGN_PREFIX}target_country"]
        return _each_distinct(match, 1, audience, target)[:, 0]

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
        creator = self.creator_._columns(X, _texts(X, ["platform"])["platform"])
        out_of_fold = {name: match[name].to_numpy() for name in MATCH_FEATURES}
        return self._frame(X, {**creator, **out_of_fold})

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """FEATURES of each row of the pair frame X, as floats (NaN where unknown)."""
        check_is_fitted(self, "match_")
        X = require_pair_frame(X, type(self).__name__)
        texts = _texts(X, ["platform", *MATCH_TEXT_COLUMNS])  # cleaned together, once
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
