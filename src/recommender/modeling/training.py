"""Training and its honest measurement: split by campaign, fit, evaluate on held-out campaigns.

Pure: validated DataFrames in, a TrainResult out. `recommender.train`
(workflow.py) adds the files, validation and MLflow around it.

The split: a test share of campaigns is held out entirely (by date when the
campaigns carry a `start_date`, else at random); nothing about them is seen
until the final evaluation. The rest (development) is what `Recommender.fit`
learns from to be measured; the model served then learns from every campaign, and
the champion gate judges it by cross-fitting (evidence.py).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recommender import contract
from recommender.errors import DataFileError
from recommender.modeling import evaluation, evidence
from recommender.modeling.estimator import LIFT_USD, Recommender, without_outcomes
from recommender.modeling.lift import measured_cost, measured_return
from recommender.modeling.ranker import campaign_fit_labels

DATE_COLUMN = "start_date"
# Recommender.fit calibrates out of fold over campaigns, so it needs two; one more is held out.
MIN_DEVELOPMENT_CAMPAIGNS = 2
MIN_CAMPAIGNS = MIN_DEVELOPMENT_CAMPAIGNS + 1


# The Recommender owns its settings' defaults; TrainConfig takes them from there.
_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(Recommender.__init__).parameters.items()
}


@dataclass(frozen=True)
class TrainConfig:
    """How to train: the seed of everything random, the held-out share, and the
    Recommender's settings (see Recommender, whose defaults these are)."""

    seed: int = 0
    test_fraction: float = 0.2
    folds: int = _DEFAULTS["folds"]
    losses: tuple[str, ...] = tuple(_DEFAULTS["losses"])
    interval_coverage: float = _DEFAULTS["interval_coverage"]
    n_estimators: int = _DEFAULTS["n_estimators"]
    prior: bool = _DEFAULTS["prior"]

    def recommender(self) -> Recommender:
        """An unfitted Recommender with these settings."""
        return Recommender(
            random_state=self.seed, n_estimators=self.n_estimators, folds=self.folds,
            losses=self.losses, interval_coverage=self.interval_coverage, prior=self.prior,
        )  # fmt: skip


@dataclass(frozen=True)
class TrainResult:
    """A trained Recommender and how its recipe did on campaigns it never saw.

    recommender: fitted on the whole history (the model served); development_model: the
    same recipe fitted on the development campaigns alone, which `metrics` measured beside
    the baselines on the held-out campaigns (one row each), and which planning or
    explaining those campaigns out of sample must use;
    test: the held-out pairs with predictions and truth columns; test_features:
    their features; truth: "noise-free" (a simulator's truth) or "measured";
    split: the campaign ids of each side; evidence: the model's NDCG per campaign of
    the whole history, out of sample, beside the baselines' (what the champion gate
    weighs), over `history` (every pair with its outcome) cut into `folds`; timings:
    the served model's fit stages, and total_s for all of it (both fits, the judging).
    `recommender.train` also fills
    `rejects` (rows validation refused) and, when tracking, `run`.
    """

    recommender: Recommender
    development_model: Recommender
    metrics: pd.DataFrame
    test: pd.DataFrame
    test_features: pd.DataFrame
    truth: str
    split: dict[str, list[str]]
    evidence: evidence.Evidence
    history: pd.DataFrame
    folds: pd.Series
    timings: dict[str, float] = field(default_factory=dict)
    rejects: pd.DataFrame = field(default_factory=pd.DataFrame)
    run: Any = None  # tracking.TrackedRun when the run was logged to MLflow

    @property
    def headline_metric(self) -> float:
        """The model's held-out metric the table leads with (evaluation.HEADLINE_METRIC)."""
        return float(self.metrics.at["model", evaluation.HEADLINE_METRIC])  # type: ignore[arg-type]


def split_by_campaign(
    campaigns: pd.DataFrame, outcomes: pd.DataFrame, config: TrainConfig
) -> tuple[set[str], set[str]]:
    """Development and test campaign ids; by date when campaigns carry start_date.

    The test side holds about `test_fraction` of the campaigns, at least one, and
    never so many that fewer than MIN_DEVELOPMENT_CAMPAIGNS are left to learn from.
    """
    used = pd.Series(pd.unique(outcomes["campaign_id"].astype(str)))
    if DATE_COLUMN in campaigns.columns:
        dates = pd.to_datetime(campaigns.set_index("campaign_id")[DATE_COLUMN], errors="coerce")
        dates = dates.reindex(used)
        if dates.notna().all():
            ordered = dates.sort_values(kind="stable").index.astype(str)
            n_test = min(
                len(ordered) - MIN_DEVELOPMENT_CAMPAIGNS,
                max(1, round(config.test_fraction * len(ordered))),
            )
            return set(ordered[:-n_test]), set(ordered[-n_test:])
    return evaluation.split_campaigns(
        used, config.test_fraction, config.seed, min_development=MIN_DEVELOPMENT_CAMPAIGNS
    )


def fit_and_evaluate(
    creators: pd.DataFrame,
    campaigns: pd.DataFrame,
    outcomes: pd.DataFrame,
    expected: pd.DataFrame | None = None,
    config: TrainConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train on validated tables' development campaigns and measure on the held-out ones,
    then fit the model served on every campaign.

    `expected` (a simulator's noise-free truth) is used for evaluation only.
    """
    config = config or TrainConfig()
    say = progress or (lambda message: None)
    campaigns_with_hires = outcomes["campaign_id"].nunique()
    if campaigns_with_hires < MIN_CAMPAIGNS:
        raise DataFileError(
            f"the outcomes cover {campaigns_with_hires} campaign(s); training needs at least "
            f"{MIN_CAMPAIGNS} ({MIN_DEVELOPMENT_CAMPAIGNS} to learn from, one held out to "
            "measure the model on)"
        )
    start = time.perf_counter()
    pairs = contract.pair_frame(creators, campaigns, outcomes)
    dev_ids, test_ids = split_by_campaign(campaigns, outcomes, config)
    dev = pairs[pairs["campaign_id"].isin(dev_ids)].reset_index(drop=True)
    test = pairs[pairs["campaign_id"].isin(test_ids)].reset_index(drop=True)
    say(
        f"{len(dev):,} development pairs in {len(dev_ids)} campaigns, "
        f"{len(test):,} held-out pairs in {len(test_ids)} campaigns"
    )
    market = market_sample(creators, campaigns, dev, config.seed)
    development_model = config.recommender().fit(dev, progress=say, market=market)
    test_frame, X_test = _predict_held_out(development_model, test)
    test_frame, truth = evaluation.attach_truth(test_frame, expected)
    metrics = evaluation.metrics_table(test_frame, X_test, config.seed)
    history = pairs.reset_index(drop=True)
    recommender, folds, judged = _fit_served(creators, campaigns, history, config, say)
    say(evidence_line(judged, len(history)))
    return TrainResult(
        recommender=recommender,
        development_model=development_model,
        metrics=metrics,
        test=test_frame,
        test_features=X_test,
        truth=truth,
        split={"development": sorted(dev_ids), "test": sorted(test_ids)},
        evidence=judged,
        history=history,
        folds=folds,
        timings={**recommender.fit_seconds_, "total_s": time.perf_counter() - start},
    )


def _fit_served(
    creators: pd.DataFrame,
    campaigns: pd.DataFrame,
    history: pd.DataFrame,
    config: TrainConfig,
    say: Callable[[str], None],
) -> tuple[Recommender, pd.Series, evidence.Evidence]:
    """The model served, fitted on every campaign of `history`, with the folds and the
    evidence it is judged by (cross-fitted, beside the baselines). The held-out campaigns
    are a fifth of what a small history holds: measured, the recipe learns from them too
    (learning_curve.py: 12 campaigns x 25 habitual hires rank fresh candidates at 0.65
    learnt from all, 0.62 from the development ones)."""
    say(f"refitting on all {history['campaign_id'].nunique()} campaigns: the model served")
    recommender = config.recommender().fit(
        history, progress=say, market=market_sample(creators, campaigns, history, config.seed)
    )
    folds = evidence.campaign_folds(history, seed=config.seed)
    judged = evidence.Evidence.of(
        evidence.judge(recommender, history, folds),
        history,
        recommender.features_for(without_outcomes(history)),
        config.seed,
        prior=evaluation.PRIOR_BASELINE if recommender.prior else None,
    )
    return recommender, folds, judged


MARKET_PAIRS = 20_000  # at most, over all campaigns
MARKET_PER_CAMPAIGN = 100  # at most


def market_sample(
    creators: pd.DataFrame, campaigns: pd.DataFrame, history: pd.DataFrame, seed: int
) -> pd.DataFrame:
    """Pairs of the history's campaigns with creators drawn at random from the whole
    creators table: whom the brand could have hired (for Recommender.fit's `market`)."""
    ids = np.asarray(pd.unique(history["campaign_id"]), dtype=object)
    per_campaign = max(1, min(MARKET_PER_CAMPAIGN, MARKET_PAIRS // max(len(ids), 1)))
    per_campaign = min(per_campaign, len(creators))
    rng = np.random.default_rng(seed)
    pool = creators["creator_id"].to_numpy()
    drawn = [rng.choice(pool, per_campaign, replace=False) for _ in ids]
    pairs = pd.DataFrame(
        {"campaign_id": np.repeat(ids, per_campaign), "creator_id": np.concatenate(drawn)}
    )
    return contract.pair_frame(creators, campaigns, pairs)


def _predict_held_out(
    recommender: Recommender, test: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The held-out pairs with what was measured beside what the model predicts."""
    X_test = recommender.features_for(without_outcomes(test))
    predicted = recommender.predict(test)
    returns = (
        test["sales_lift_usd"].astype(float)
        if recommender.target_ == LIFT_USD
        else measured_return(test)
    )
    # The outcome's cost_usd (what was paid) becomes measured_cost_usd beside the prediction's.
    measured = test.drop(columns=["cost_usd"], errors="ignore").assign(
        measured_return=returns,
        campaign_fit_label=campaign_fit_labels(
            test.get("fit_rating"), returns, test["campaign_id"]
        ),
        measured_cost_usd=measured_cost(test),
    )
    frame = pd.concat([measured, predicted.drop(columns=["campaign_id", "creator_id"])], axis=1)
    return frame, X_test


def rival_evidence(result: TrainResult, rival: Recommender) -> evidence.Evidence:
    """Another model (a champion) judged as `result`'s model was: on the same history and
    folds, beside the same baselines (not judged again), never by campaigns it was trained
    on."""
    judged = evidence.judge(rival, result.history, result.folds)
    return result.evidence.for_model(judged, result.history)


def evidence_line(judged: evidence.Evidence, outcomes: int) -> str:
    """How the model stands against the best baseline on the history, in one line."""
    name, comparison = judged.versus_best_baseline()
    where = f"{comparison.campaigns} campaigns, {outcomes:,} outcomes"
    if comparison.campaigns < evidence.MIN_CAMPAIGNS:
        return (
            f"{where}: too few campaigns with a positive measured return to tell the model "
            f"from the baselines ({evidence.MIN_CAMPAIGNS} needed)"
        )
    verdict = "credibly ahead" if comparison.credible else "not credibly ahead"
    over_prior = judged.versus_prior()
    prior = "" if over_prior is None else f"; against its prior ({judged.prior}): {over_prior}"
    return (
        f"{where}: the model against the best baseline ({name}): {comparison} "
        f"NDCG@{evidence.K} of {judged.gain}, {verdict}{prior} (out of sample, "
        f"{evidence.LEVEL:.0%} interval)"
    )
