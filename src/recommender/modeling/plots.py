"""Figures of a training run: feature importance, NDCG by k, lift calibration.

Pure: frames in, matplotlib figures out (the Agg backend, no screen needed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from recommender.modeling import evaluation

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
        "ndcg_by_k": ndcg_curves(ndcg, result.truth),
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


def ndcg_curves(table: pd.DataFrame, truth: str) -> Figure:
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
