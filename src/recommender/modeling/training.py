"""Training: split by campaign, compare lift losses out of fold, fit the final models, evaluate.

Pure: validated DataFrames in, a TrainResult out. train.py and tracking.py do
the files and MLflow.

The split: a test share of campaigns is held out entirely (by date when the
campaigns carry a `start_date`, else at random); nothing about them is seen
until the final evaluation. The rest (development) is cut into campaign
folds: out-of-fold predictions choose the lift loss, fix the mean calibration
and calibrate the interval (conformal), then the final models are fitted on
all development campaigns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from recommender import evaluate
from recommender.features import make_feature_pipeline, pair_frame
from recommender.modeling.lift import (
    LOSSES,
    ReturnRegressor,
    conformal_margin,
    mean_calibration,
)
from recommender.modeling.ranker import FitRanker, fit_labels
from recommender.modeling.recommender import MODEL_FORMAT, Recommender

OUTCOME_COLUMNS = ("sales_lift_usd", "cost_usd", "fit_rating", "impressions", "engagements",
                   "clicks", "conversions")  # fmt: skip
DATE_COLUMN = "start_date"
MIN_COSTS = 50


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    test_fraction: float = 0.2
    folds: int = 4
    losses: tuple[str, ...] = LOSSES
    interval_coverage: float = 0.8
    n_estimators: int = 300


@dataclass(frozen=True)
class TrainResult:
    recommender: Recommender
    metrics: pd.DataFrame  # model and baselines on the held-out campaigns
    loss_comparison: pd.DataFrame  # out-of-fold, on development campaigns
    test: pd.DataFrame  # held-out pairs with predictions and truth
    test_features: pd.DataFrame
    truth: str  # "noise-free" or "measured"
    split: dict[str, list[str]]
    timings: dict[str, float] = field(default_factory=dict)


def split_by_campaign(
    campaigns: pd.DataFrame, outcomes: pd.DataFrame, config: TrainConfig
) -> tuple[set[str], set[str]]:
    """Development and test campaign ids; by date when campaigns carry start_date."""
    used = pd.Series(pd.unique(outcomes["campaign_id"].astype(str)))
    if DATE_COLUMN in campaigns.columns:
        dates = pd.to_datetime(campaigns.set_index("campaign_id")[DATE_COLUMN], errors="coerce")
        dates = dates.reindex(used)
        if dates.notna().all():
            ordered = dates.sort_values(kind="stable").index.astype(str)
            n_test = max(1, round(config.test_fraction * len(ordered)))
            return set(ordered[:-n_test]), set(ordered[-n_test:])
    return evaluate.split_campaigns(used, config.test_fraction, config.seed)


def measured_cost(pairs: pd.DataFrame) -> pd.Series:
    """What each hire cost: cost_usd, else the creator's asking price; NaN when unknown."""
    cost = pairs.get("cost_usd", pd.Series(np.nan, index=pairs.index))
    if "price_per_post_usd" in pairs.columns:
        cost = cost.fillna(pairs["price_per_post_usd"])
    cost = pd.to_numeric(cost, errors="coerce").astype(float)
    return cost.where(cost > 0)


def measured_return(pairs: pd.DataFrame) -> pd.Series:
    """sales_lift_usd per dollar paid."""
    return pairs["sales_lift_usd"].astype(float) / measured_cost(pairs)


def _without_outcomes(pairs: pd.DataFrame) -> pd.DataFrame:
    return pairs.drop(columns=[c for c in OUTCOME_COLUMNS if c in pairs.columns])


def train(
    creators: pd.DataFrame,
    campaigns: pd.DataFrame,
    outcomes: pd.DataFrame,
    expected: pd.DataFrame | None = None,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[str], None] = lambda message: None,
) -> TrainResult:
    """Train on validated tables; `expected` (simulated truth) is used for evaluation only."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    pairs = pair_frame(creators, campaigns, outcomes)
    pairs["measured_return"] = measured_return(pairs)
    # Without costs there is no return per dollar to learn: learn lift in USD instead.
    unit_cost = int(pairs["measured_return"].notna().sum()) < MIN_COSTS
    if unit_cost:
        pairs["measured_return"] = pairs["sales_lift_usd"].astype(float)
        progress(
            f"fewer than {MIN_COSTS} hires with a known cost (cost_usd or price_per_post_usd): "
            "learning lift in USD; return per dollar will be unknown"
        )
    pairs["fit_label"] = fit_labels(
        pairs["fit_rating"] if "fit_rating" in pairs.columns else None,
        pairs["measured_return"],
        pairs["campaign_id"],
    )
    dev_ids, test_ids = split_by_campaign(campaigns, outcomes, config)
    dev = pairs[pairs["campaign_id"].isin(dev_ids)].reset_index(drop=True)
    test = pairs[pairs["campaign_id"].isin(test_ids)].reset_index(drop=True)
    affinity_target = evaluate.within_group_percentile(dev, "measured_return").fillna(0.5)
    has_return = dev["measured_return"].notna().to_numpy()
    scale = float(max(np.median(np.abs(dev.loc[has_return, "measured_return"])) / 5, 1e-6))
    target = dev["measured_return"].to_numpy(dtype=float)
    progress(
        f"{len(dev):,} development pairs in {len(dev_ids)} campaigns, "
        f"{len(test):,} held-out pairs in {len(test_ids)} campaigns"
    )

    # Out-of-fold predictions on development campaigns.
    n_folds = max(2, min(config.folds, len(dev_ids)))
    oof = {loss: np.full(len(dev), np.nan) for loss in (*config.losses, "q_low", "q_high")}
    alpha = (1 - config.interval_coverage) / 2
    folds = GroupKFold(n_splits=n_folds).split(dev, groups=dev["campaign_id"])
    for number, (fit_rows, held_rows) in enumerate(folds, start=1):
        fit_part, held_part = dev.iloc[fit_rows], _without_outcomes(dev.iloc[held_rows])
        pipeline = make_feature_pipeline(config.seed)
        X_fit = pipeline.fit_transform(fit_part, affinity_target.iloc[fit_rows])
        X_held = pipeline.transform(held_part)
        y_fit = target[fit_rows]
        for loss in config.losses:
            model = _regressor(loss, scale, config).fit(X_fit, y_fit)
            oof[loss][held_rows] = model.predict_transformed(X_held)
        for name, q in (("q_low", alpha), ("q_high", 1 - alpha)):
            model = _regressor("quantile", scale, config, q).fit(X_fit, y_fit)
            oof[name][held_rows] = model.predict_transformed(X_held)
        progress(f"fold {number}/{n_folds}: compared {len(config.losses)} lift losses")
    timings["out_of_fold_s"] = time.perf_counter() - start

    scored_dev = dev.loc[has_return, ["campaign_id", "measured_return"]].copy()
    comparison = {}
    for loss in config.losses:
        scored_dev["_pred"] = oof[loss][has_return]
        comparison[loss] = {
            "oof_ndcg_roi@10": evaluate.ndcg_at_k(scored_dev, "_pred", "measured_return", 10),
            "oof_spearman_roi": evaluate.spearman(scored_dev, "_pred", "measured_return"),
        }
    loss_comparison = pd.DataFrame.from_dict(comparison, orient="index")
    loss_comparison.index.name = "loss"
    best_loss = str(loss_comparison["oof_ndcg_roi@10"].idxmax())
    progress(f"lift loss: {best_loss} (best out-of-fold NDCG@10 of the ROI ranking)")

    transformed = np.arcsinh(target / scale)
    calibration = mean_calibration(np.sinh(oof[best_loss]) * scale, target)
    margin = conformal_margin(
        oof["q_low"][has_return], oof["q_high"][has_return], transformed[has_return],
        config.interval_coverage,
    )  # fmt: skip

    # Final models on all development campaigns.
    fit_start = time.perf_counter()
    pipeline = make_feature_pipeline(config.seed)
    X_dev = pipeline.fit_transform(dev, affinity_target)
    recommender = Recommender(
        features=pipeline,
        ranker=FitRanker(random_state=config.seed).fit(X_dev, dev["fit_label"], dev["campaign_id"]),
        lift=_regressor(best_loss, scale, config).fit(X_dev, target),
        lift_low=_regressor("quantile", scale, config, alpha).fit(X_dev, target),
        lift_high=_regressor("quantile", scale, config, 1 - alpha).fit(X_dev, target),
        calibration=calibration,
        margin=margin,
        interval_coverage=config.interval_coverage,
        metadata={
            "model_format": MODEL_FORMAT,
            "lift_loss": best_loss,
            "return_scale": scale,
            "seed": config.seed,
            "unit_cost": unit_cost,
        },
    )
    timings["final_fit_s"] = time.perf_counter() - fit_start

    # Held-out evaluation.
    X_test = recommender.transform(_without_outcomes(test))
    predicted = recommender.predict(test, features=X_test)
    # The outcome's cost_usd (what was paid) becomes measured_cost_usd beside the prediction's.
    measured = test.drop(columns=["cost_usd"], errors="ignore")
    measured["measured_cost_usd"] = measured_cost(test)
    test_frame = pd.concat(
        [measured, predicted.drop(columns=["campaign_id", "creator_id"])], axis=1
    )
    test_frame, truth = evaluate.attach_truth(test_frame, expected)
    metrics = evaluate.metrics_table(test_frame, X_test, config.seed)
    timings["total_s"] = time.perf_counter() - start
    return TrainResult(
        recommender=recommender,
        metrics=metrics,
        loss_comparison=loss_comparison,
        test=test_frame,
        test_features=X_test,
        truth=truth,
        split={"development": sorted(dev_ids), "test": sorted(test_ids)},
        timings=timings,
    )


def _regressor(loss: str, scale: float, config: TrainConfig, alpha: float = 0.5) -> ReturnRegressor:
    # 300 rounds at 0.04 by default; fewer rounds learn proportionally faster. The
    # interval's quantile models get half the rounds at twice the rate: the conformal
    # step corrects their band, and every round costs at scoring time.
    rounds, rate = config.n_estimators, min(12.0 / config.n_estimators, 0.3)
    if loss == "quantile":
        rounds, rate = max(rounds // 2, 1), min(2 * rate, 0.3)
    return ReturnRegressor(
        loss=loss,
        alpha=alpha,
        scale=scale,
        random_state=config.seed,
        n_estimators=rounds,
        learning_rate=rate,
    )
