"""Figures of a training run (feature importance, NDCG by k, lift calibration) and of a plan.

Pure: frames in, matplotlib figures out (the Agg backend, no screen needed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from recommender import contract
from recommender.modeling import evaluation
from recommender.scoring.explain import usd

if TYPE_CHECKING:
    from recommender.modeling.training import TrainResult


def close(figures: Iterable[Figure]) -> None:
    """Free figures once saved or logged."""
    for figure in figures:
        plt.close(figure)


def training_figures(result: TrainResult) -> dict[str, Figure]:
    """A training run's figures by name: feature importance, NDCG by k, lift calibration."""
    seed = result.recommender.random_state or 0
    frame, baselines = evaluation.with_baselines(result.test, result.test_features, seed)
    ndcg = evaluation.ndcg_by_k(frame, {"model": "expected_roi", **baselines}, range(1, 51))
    return {
        "feature_importance": feature_importance(result.recommender.feature_importance()),
        "ndcg_by_k": ndcg_by_k(ndcg, result.truth),
        "lift_calibration": lift_calibration(result.test),
    }


def feature_importance(importance: pd.DataFrame, top: int = 15) -> Figure:
    """Horizontal bars: the share of gain per feature, lift model and fit ranker side by side."""
    order = importance.sum(axis=1).sort_values().index[-top:]
    figure, ax = plt.subplots(figsize=(8, 6))
    positions = np.arange(len(order))
    for offset, column in zip((-0.2, 0.2), importance.columns, strict=False):
        ax.barh(positions + offset, importance.loc[order, column], height=0.4, label=column)
    ax.set_yticks(positions, order)
    ax.set_xlabel("share of split gain")
    ax.set_title("What the models use")
    ax.legend(title="model")
    figure.tight_layout()
    return figure


def ndcg_by_k(table: pd.DataFrame, truth: str) -> Figure:
    """NDCG of the ROI ranking at k = 1..n, model against baselines."""
    figure, ax = plt.subplots(figsize=(7, 4.5))
    for column in table.columns:
        style = {"linewidth": 2.5} if column == "model" else {"linestyle": "--"}
        ax.plot(table.index, table[column], label=column, **style)
    ax.set_xlabel("k (creators picked per campaign)")
    ax.set_ylabel(f"NDCG@k of ROI ranking ({truth} truth)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Held-out campaigns: ranking by expected return per dollar")
    ax.legend()
    figure.tight_layout()
    return figure


def lift_calibration(test: pd.DataFrame, bins: int = 10) -> Figure:
    """Predicted expected lift (binned by decile) against measured and true mean lift."""
    frame = test[["expected_lift_usd", "sales_lift_usd", evaluation.TRUTH_LIFT]].dropna()
    decile = pd.qcut(frame["expected_lift_usd"].rank(method="first"), bins, labels=False)
    means = frame.groupby(decile).mean()
    figure, ax = plt.subplots(figsize=(6, 5))
    ax.plot(means["expected_lift_usd"], means["sales_lift_usd"], "o-", label="measured")
    if not frame[evaluation.TRUTH_LIFT].equals(frame["sales_lift_usd"]):
        ax.plot(means["expected_lift_usd"], means[evaluation.TRUTH_LIFT], "s-", label="noise-free")
    top = float(max(means.max().max(), 1.0))
    ax.plot([0, top], [0, top], color="grey", linewidth=1, label="perfect")
    ax.set_xscale("symlog")
    ax.set_yscale("symlog")
    ax.set_xlabel("predicted expected lift, USD (decile mean)")
    ax.set_ylabel("mean lift, USD")
    ax.set_title("Lift calibration on held-out campaigns")
    ax.legend()
    figure.tight_layout()
    return figure


def plan_budget(chosen: pd.DataFrame, summary: Mapping[str, Any]) -> Figure:
    """Where a plan's budget goes (by tier, exploiting vs exploring) and what it is expected
    to return against the same budget on the largest creators, with intervals."""
    figure, (spend, lift) = plt.subplots(1, 2, figsize=(11, 4.5))
    tiers = [t for t in contract.TIERS if t in set(chosen["tier"])]
    bottom = np.zeros(len(tiers))
    for exploring, label in ((False, "best expected return"), (True, "exploring")):
        rows = chosen[chosen["exploration"] == exploring]
        cost = rows.groupby("tier")["cost_usd"].sum().reindex(tiers, fill_value=0).to_numpy(float)
        count = rows.groupby("tier").size().reindex(tiers, fill_value=0).to_numpy()
        bars = spend.bar(tiers, cost, bottom=bottom, label=label)
        for bar, n in zip(bars, count, strict=True):
            if n:
                spend.annotate(f"{n}", (bar.get_x() + bar.get_width() / 2, bar.get_y()
                               + bar.get_height() / 2), ha="center", va="center")  # fmt: skip
        bottom += cost
    spend.set_ylabel("USD (creators in each bar)")
    spend.set_title(f"Budget ${summary['budget_usd']:,.0f}: where it goes")
    spend.legend()

    names = ["this plan", f"{summary['largest_creators_count']} largest creators"]
    expected = [summary["expected_lift_usd"], summary["largest_creators_expected_lift_usd"]]
    low, high = summary["largest_creators_interval_usd"]
    lows, highs = [summary["lift_low_usd"], low], [summary["lift_high_usd"], high]
    errors = np.array([np.subtract(expected, lows), np.subtract(highs, expected)])
    bars = lift.bar(names, expected, yerr=errors.clip(min=0), capsize=8, color=["C0", "C7"])
    for bar, value in zip(bars, expected, strict=True):
        lift.annotate(usd(value), (bar.get_x() + bar.get_width() / 2, max(value, 0)),
                      xytext=(12, 4), textcoords="offset points")  # fmt: skip
    lift.set_ylabel("expected sales lift, USD (interval)")
    lift.set_title("One plan or a few stars, same budget")
    figure.tight_layout()
    return figure
