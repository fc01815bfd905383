"""Features of a creator for a campaign: niche, audience country, platform and objective
matched, with niche-pair affinities learned from past results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from recommender import contract
from recommender.contract import CAMPAIGN_PREFIX, require_pair_frame
from recommender.features import _columns as cols
from recommender.features.creator import one_row_per_creator

_PAIR_SEP = "\x1f"  # joins (creator niche, campaign niche) into one lookup key


OBJECTIVE_CODES = {name: i for i, name in enumerate(contract.OBJECTIVES)}


# Pseudo-count of the niche-pair affinity's prior: pairs seen fewer times lean on it.
AFFINITY_SMOOTHING = 5.0


def niche_similarity(X: pd.DataFrame) -> pd.Series:
    """How related two niches are, from the creators themselves: keyed 'a<sep>b'.

    The share of creators of primary niche a who list b among their secondary
    niches, averaged with the same share from b to a. Creators who post about
    both tell which niches share an audience, with no outcome needed. Empty
    when no creator lists secondary niches.
    """
    creators = one_row_per_creator(X)
    primary = cols.text(creators, "niche").reset_index(drop=True)
    items = cols.text(creators, "secondary_niches").reset_index(drop=True)
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
    string methods, as `text` cleans the lists)."""
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
        countries = cols.text(creators, "audience_country")
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
        keys = [cols.text(X, "niche"), cols.text(X, f"{CAMPAIGN_PREFIX}niche")]
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
        columns = self._columns(X, cols.texts(X, MATCH_TEXT_COLUMNS), prior, affinity)
        return pd.DataFrame(columns, index=X.index)

    def _columns(
        self,
        X: pd.DataFrame,
        texts: Mapping[str, cols.Coded],
        prior: float,
        affinity: dict[tuple[str, str], float],
    ) -> dict[str, np.ndarray]:
        """MATCH_FEATURES of each row of X as arrays; `texts`: X's MATCH_TEXT_COLUMNS, coded."""
        age = cols.numbers(X, "audience_age_median")
        low = cols.numbers(X, f"{CAMPAIGN_PREFIX}target_age_min")
        high = cols.numbers(X, f"{CAMPAIGN_PREFIX}target_age_max")
        with np.errstate(all="ignore"):  # as pandas's arithmetic
            below, above = low - age, age - high
            gender_gap = np.abs(
                cols.numbers(X, "audience_female_share")
                - cols.numbers(X, f"{CAMPAIGN_PREFIX}target_female_share")
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
            "log_product_price": np.log10(
                cols.numbers(X, f"{CAMPAIGN_PREFIX}product_price_usd") + 1
            ),
            "objective_code": cols.mapped(texts[f"{CAMPAIGN_PREFIX}objective"], OBJECTIVE_CODES,
                                      missing=default),
        }  # fmt: skip

    def _niche_features(
        self,
        texts: Mapping[str, cols.Coded],
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
        exact, learned_affinity, related = cols.each_distinct(
            primary, 3, texts["niche"], campaign
        ).T
        in_secondary, best_secondary = cols.each_distinct(secondary, 2, lists, campaign).T
        return {
            "niche_exact": exact,
            "niche_in_secondary": in_secondary,
            "niche_affinity": learned_affinity,
            "niche_similarity": related,
            "secondary_niche_affinity": best_secondary,
        }

    def _country_match(self, texts: Mapping[str, cols.Coded]) -> np.ndarray:
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
        return cols.each_distinct(match, 1, audience, target)[:, 0]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names of transform's columns."""
        return np.asarray(MATCH_FEATURES, dtype=object)


MATCH_FEATURES = (
    "niche_exact", "niche_in_secondary", "niche_affinity", "niche_similarity",
    "secondary_niche_affinity",
    "country_match", "age_gap_years", "gender_gap", "log_product_price", "objective_code",
)  # fmt: skip
