"""The figure of a budget plan: where the budget goes, and what it is expected to return.

Pure: frames in, a matplotlib figure out (the Agg backend, no screen needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from recommender import contract
from recommender.modeling.plots import close
from recommender.scoring.explain import usd

__all__ = ["close", "plan_figure"]


def plan_figure(chosen: pd.DataFrame, summary: Mapping[str, Any]) -> Figure:
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
