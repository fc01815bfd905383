"""Ranking and lift metrics over long-format frames, baselines, and the campaign split.

Metrics are free functions over a frame with one row per (campaign, creator):
a group column, a score column (the ranking to judge) and a gain column (the
truth). Ties in the score are broken against the ranking (the worst order), so
a coarse score such as "niche match" cannot look better than it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from recommender.modeling import prior

GROUP = "campaign_id"


def dcg(gains: np.ndarray, k: int) -> float:
    """Discounted cumulative gain of the first k gains, in the order given."""
    gains = np.asarray(gains, dtype=float)[:k]
    return float(np.sum(gains / np.log2(np.arange(2, gains.size + 2))))


def ndcg_at_k(frame: pd.DataFrame, score: str, gain: str, k: int, group: str = GROUP) -> float:
    """Mean NDCG@k over groups (ndcg_by_group); NaN when no group has an ideal ranking."""
    values = ndcg_by_group(frame, score, gain, k, group).dropna()
    return float(np.mean(values.to_numpy())) if len(values) else float("nan")


def ndcg_by_group(
    frame: pd.DataFrame, score: str, gain: str, k: int, group: str = GROUP
) -> pd.Series:
    """NDCG@k of each group (by group key); negative gains count as 0.

    A group whose gains are all 0 has no ideal ranking: NaN. k beyond a group's size
    uses the whole group.
    """
    values = {}
    for key, g in frame.groupby(group, sort=False):
        g = g[np.isfinite(g[gain].to_numpy(dtype=float))]  # unknown truth: not judged
        gains = g[gain].to_numpy(dtype=float).clip(min=0)
        ideal = dcg(np.sort(gains)[::-1], k)
        if ideal <= 0:
            values[key] = float("nan")
            continue
        # Sort by score descending, ties broken by gain ascending (pessimistic).
        order = np.lexsort((gains, -g[score].to_numpy(dtype=float)))
        values[key] = dcg(gains[order], k) / ideal
    return pd.Series(values, dtype=float)


def spearman(frame: pd.DataFrame, prediction: str, truth: str) -> float:
    """Spearman's rank correlation of two columns over all rows (NaN when one is constant)."""
    with warnings.catch_warnings():  # a constant column has no correlation: NaN says so
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(frame[prediction].corr(frame[truth], method="spearman"))


def coverage(frame: pd.DataFrame, truth: str, low: str, high: str) -> float:
    """Share of rows whose truth lies inside [low, high]."""
    inside = (frame[truth] >= frame[low]) & (frame[truth] <= frame[high])
    return float(inside.mean())


def within_group_percentile(frame: pd.DataFrame, column: str, group: str = GROUP) -> pd.Series:
    """Each value's percentile (0..1] within its group."""
    return frame.groupby(group)[column].rank(pct=True)


# --- baselines ----------------------------------------------------------------
# Each takes the features frame (features.FEATURES columns) and returns a score.


def _random(features: pd.DataFrame, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(len(features))


def _most_followers(features: pd.DataFrame, seed: int = 0) -> np.ndarray:
    return features["log_followers"].fillna(-1).to_numpy()


def _highest_engagement(features: pd.DataFrame, seed: int = 0) -> np.ndarray:
    return features["engagement_rate"].fillna(-1).to_numpy()


def _niche_then_engagement(features: pd.DataFrame, seed: int = 0) -> np.ndarray:
    engagement = features["engagement_rate"].fillna(0).to_numpy()
    # niche match dominates; engagement (bounded below 1 by the rank) breaks ties
    rank = pd.Series(engagement).rank(pct=True).to_numpy()
    return features["niche_exact"].fillna(0).to_numpy() * 10 + rank


def _lowest_price(features: pd.DataFrame, seed: int = 0) -> np.ndarray:
    # the cheapest first: the ROI ranking if every hire sold the same
    return -features["price_usd"].fillna(np.inf).to_numpy(dtype=float)


def _rule_of_thumb(features: pd.DataFrame, seed: int = 0) -> np.ndarray:
    # A marketer's rule with no learning (prior.rule_factors): engagements per dollar, less
    # off-niche, for an audience elsewhere and for mostly sponsored posts.
    columns = {name: features[name].to_numpy(dtype=float) for name in prior.COLUMNS}
    return np.asarray(np.prod(list(prior.rule_factors(columns, 0.0).values()), axis=0))


PRIOR_BASELINE = "rule_of_thumb"  # the rule the lift models start from (prior.py)
BASELINES: dict[str, Callable[[pd.DataFrame, int], np.ndarray]] = {
    "random": _random,
    "most_followers": _most_followers,
    "highest_engagement": _highest_engagement,
    "niche_then_engagement": _niche_then_engagement,
    "lowest_price": _lowest_price,
    PRIOR_BASELINE: _rule_of_thumb,
}


def split_campaigns(
    campaign_ids: pd.Series, test_fraction: float, seed: int, min_development: int = 1
) -> tuple[set[str], set[str]]:
    """Split campaigns (never rows) at random into development and test sets.

    The test set takes about `test_fraction` of them, at least one, and leaves at
    least `min_development` for development.
    """
    ids = np.array(sorted(pd.unique(campaign_ids.astype(str))), dtype=object)
    np.random.default_rng(seed).shuffle(ids)
    n_test = min(len(ids) - min_development, max(1, round(test_fraction * len(ids))))
    return set(ids[n_test:]), set(ids[:n_test])


# --- the evaluation of a trained model ------------------------------------------

TRUTH_LIFT = "truth_lift_usd"
TRUTH_ROI = "truth_roi"
TRUTH_FIT = "truth_fit"
METRICS = (
    "ndcg_fit@10", "ndcg_fit@50", "ndcg_roi@10", "ndcg_lift@10", "spearman_lift",
    "interval_coverage",
)  # fmt: skip
# What the held-out table leads with: the model's ROI ranking against the best baseline's.
# (The champion gate weighs the whole history by cross-fitting instead: evidence.py.)
HEADLINE_METRIC = "ndcg_roi@10"


def attach_truth(test: pd.DataFrame, expected: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """Add truth columns: noise-free when `expected` is given (simulated data), else measured.

    Returns the frame and the name of the truth used ("noise-free" or "measured").
    """
    out = test.copy()
    if expected is not None:
        keys = ["campaign_id", "creator_id"]
        truth = out[keys].merge(expected, on=keys, how="left")
        out[TRUTH_LIFT] = truth["expected_lift_usd"].to_numpy()
        out[TRUTH_ROI] = out[TRUTH_LIFT] / truth["true_cost_usd"].to_numpy()
        out[TRUTH_FIT] = truth["true_fit"].to_numpy()
        return out, "noise-free"
    out[TRUTH_LIFT] = out["sales_lift_usd"]
    out[TRUTH_ROI] = out["sales_lift_usd"] / out["measured_cost_usd"]
    out[TRUTH_FIT] = out["campaign_fit_label"]
    return out, "measured"


# Each NDCG metric: (which ranking it judges, its truth column, k).
NDCG_METRICS = {
    "ndcg_fit@10": ("fit", TRUTH_FIT, 10),
    "ndcg_fit@50": ("fit", TRUTH_FIT, 50),
    "ndcg_roi@10": ("roi", TRUTH_ROI, 10),
    "ndcg_lift@10": ("lift", TRUTH_LIFT, 10),
}


def roi_is_known(frame: pd.DataFrame, roi: str = "expected_roi") -> bool:
    """Whether some pair has both a predicted ROI (column `roi`) and a true one."""
    predicted = pd.to_numeric(frame[roi], errors="coerce").to_numpy(dtype=float)
    truth = pd.to_numeric(frame[TRUTH_ROI], errors="coerce").to_numpy(dtype=float)
    return bool((np.isfinite(predicted) & np.isfinite(truth)).any())


def ranking_metrics(
    frame: pd.DataFrame, fit: str, roi: str, lift: str, roi_as_lift: bool = False
) -> dict[str, float]:
    """NDCG of the fit, ROI and lift rankings against the truth columns, and lift Spearman.

    With `roi_as_lift` (no ROI known: `roi_is_known`), the ROI metrics judge the lift
    ranking against the lift truth: with no cost known every hire is taken to cost the
    same, and then ROI orders creators exactly as lift does (it is also what such a
    model ranks by), so the metric stays defined instead of NaN.
    """
    columns = {"fit": fit, "roi": roi, "lift": lift}
    metrics = {}
    for name, (ranking, truth, k) in NDCG_METRICS.items():
        if ranking == "roi" and roi_as_lift:
            ranking, truth = "lift", TRUTH_LIFT
        metrics[name] = ndcg_at_k(frame, columns[ranking], truth, k)
    metrics["spearman_lift"] = spearman(frame, lift, TRUTH_LIFT)
    return metrics


def metrics_table(frame: pd.DataFrame, features: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The model's metrics and the baselines', one row each, on a predicted test frame.

    `frame` holds the model's predictions (fit_score, expected_roi,
    expected_lift_usd, lift_low_usd, lift_high_usd) and the truth columns. When
    the model's ROI cannot be judged (`roi_is_known`), every row's ROI metrics
    judge its lift ranking, so the model and the baselines are compared alike.
    """
    as_lift = not roi_is_known(frame)
    rows = {
        "model": ranking_metrics(
            frame, "fit_score", "expected_roi", "expected_lift_usd", roi_as_lift=as_lift
        )
    }
    rows["model"]["interval_coverage"] = coverage(
        frame, "sales_lift_usd", "lift_low_usd", "lift_high_usd"
    )
    scored, columns = with_baselines(frame, features, seed)
    for name, column in columns.items():
        rows[name] = ranking_metrics(scored, column, column, column, roi_as_lift=as_lift)
        rows[name]["interval_coverage"] = float("nan")
    return pd.DataFrame.from_dict(rows, orient="index")[list(METRICS)]


def with_baselines(
    frame: pd.DataFrame, features: pd.DataFrame, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, str]]:
    """`frame` with one score column per baseline, and {baseline name: its column}."""
    columns = {name: f"_baseline_{name}" for name in BASELINES}
    scores = {columns[name]: baseline(features, seed) for name, baseline in BASELINES.items()}
    return frame.assign(**scores), columns


def ndcg_by_k(frame: pd.DataFrame, scores: dict[str, str], ks: Sequence[int]) -> pd.DataFrame:
    """NDCG of the ROI ranking at each k, one column per named score column."""
    return pd.DataFrame(
        {name: [ndcg_at_k(frame, col, TRUTH_ROI, k) for k in ks] for name, col in scores.items()},
        index=pd.Index(list(ks), name="k"),
    )
