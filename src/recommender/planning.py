"""Budget plans: which creators to hire so total expected lift is highest within the budget.

    recommender.plan(creators, campaign, budget_usd, explore=0.0) -> Plan

The selection is a 0/1 knapsack solved exactly by dynamic programming over
costs rounded up to 1/20,000 of the budget (so never over budget); with a cap
per niche it becomes a mixed-integer program solved by HiGHS. The summary
reports a proven optimality gap against an upper bound on the best possible
value: the same programme over costs rounded down, or with caps HiGHS's dual
bound, or the LP relaxation's if tighter (the plan is at least that close to
the best possible). A greedy sort by return per dollar
can miss by up to the value of one creator.

Exploration (`explore` > 0) reserves that share of the budget for learning: it
goes to audience segments (niche x country x tier) the exploitation plan left
out, one creator per segment, picked by the upper end of the lift interval per
dollar (optimism where the model is least sure), until the reserve is spent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

from recommender.modeling.recommender import Recommender
from recommender.scoring import score_with_rejects

MIP_GAP = 1e-4
MIP_SECONDS = 10.0
EXCLUDED_FLAGS = ("suspect_followers", "high_sponsorship")


@dataclass(frozen=True)
class Constraints:
    """What a brand may rule out or cap; None means no limit."""

    platform: str | None = None
    target_country: str | None = None
    min_followers: float | None = None
    max_followers: float | None = None
    max_sponsorship_ratio: float | None = None
    excluded_flags: tuple[str, ...] = EXCLUDED_FLAGS
    max_niche_share: float | None = None  # of the budget, per creator niche


@dataclass(frozen=True)
class Plan:
    chosen: pd.DataFrame  # the hired creators, with why each was picked
    summary: dict[str, Any]
    candidates: pd.DataFrame  # every scored candidate, with `eligible` and `why_not`
    rejects: pd.DataFrame = field(default_factory=pd.DataFrame)


def _interval(rows: pd.DataFrame) -> tuple[float, float, float]:
    """Total expected lift and an interval, treating creators' errors as independent."""
    expected = float(rows["expected_lift_usd"].sum())
    below = float(np.sqrt(((rows["expected_lift_usd"] - rows["lift_low_usd"]) ** 2).sum()))
    above = float(np.sqrt(((rows["lift_high_usd"] - rows["expected_lift_usd"]) ** 2).sum()))
    return expected, expected - below, expected + above


def eligibility(scored: pd.DataFrame, constraints: Constraints) -> pd.Series:
    """Why each candidate may not be hired ("" when it may)."""
    why = pd.Series("", index=scored.index, dtype=object)

    def rule(mask: pd.Series, reason: str) -> None:
        hit = mask.fillna(False).to_numpy(dtype=bool) & (why == "").to_numpy()
        why[hit] = reason

    rule(~(scored["expected_lift_usd"] > 0), "no positive expected lift")
    rule(scored["cost_usd"].isna(), "price unknown")
    if constraints.platform:
        rule(scored["platform"] != constraints.platform, f"not on {constraints.platform}")
    if constraints.target_country and "audience_country" in scored:
        rule(scored["audience_country"] != constraints.target_country, "audience elsewhere")
    if constraints.min_followers is not None:
        rule(scored["followers"] < constraints.min_followers, "too few followers")
    if constraints.max_followers is not None:
        rule(scored["followers"] > constraints.max_followers, "too many followers")
    if constraints.max_sponsorship_ratio is not None and "recent_posts" in scored:
        ratio = scored["recent_sponsored_posts"] / scored["recent_posts"].where(
            scored["recent_posts"] > 0
        )
        rule(ratio > constraints.max_sponsorship_ratio, "sponsors too often")
    for flag in constraints.excluded_flags:
        rule(
            scored["flags"].astype(str).str.split(";").apply(lambda f, x=flag: x in f),
            f"flagged {flag}",
        )
    return why


def knapsack(
    value: np.ndarray, cost: np.ndarray, budget: float, groups: np.ndarray | None = None,
    group_cap: float | None = None,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """0/1 choice maximising value within budget (and a cap per group); returns (chosen, bound).

    `bound` is a proven upper bound on the best total value: the tighter of the LP
    relaxation's and another, the programme's own over costs rounded down (without
    caps) or HiGHS's dual bound (with caps). So (bound - value) / bound is a
    guaranteed optimality gap. Without group caps the choice is exact dynamic
    programming over costs rounded up to budget/20,000 (never over budget); with
    caps it is a mixed-integer program (HiGHS).
    """
    n = len(value)
    if n == 0 or budget <= 0:
        return np.zeros(n, dtype=bool), 0.0
    bound = lp_bound(value, cost, budget)
    if groups is not None and group_cap is not None:
        chosen, milp_bound = _milp(value, cost, budget, groups, group_cap)
        return chosen, min(bound, milp_bound)
    chosen, relaxed = _dynamic_programme(value, cost, budget)
    return chosen, min(bound, relaxed)


def lp_bound(value: np.ndarray, cost: np.ndarray, budget: float) -> float:
    """Dantzig's bound: the best value if items could be taken in fractions."""
    free = cost <= 0
    order = np.argsort(-value[~free] / cost[~free], kind="stable")
    v, w = value[~free][order], cost[~free][order]
    filled = np.cumsum(w)
    whole = int(np.searchsorted(filled, budget, side="right"))
    total = float(value[free].sum() + v[:whole].sum())
    if whole < len(v):
        total += float(v[whole] * (budget - (filled[whole - 1] if whole else 0.0)) / w[whole])
    return total


def _dynamic_programme(
    value: np.ndarray, cost: np.ndarray, budget: float, cells: int = 20_000
) -> tuple[np.ndarray, float]:
    """The best choice over costs rounded up to budget/cells (so never over budget), and
    a proven bound: the best value over costs rounded down, which no choice within the
    budget can beat (each rounded-down total is at most the budget's cells)."""
    scaled = np.maximum(cost, 0) / (budget / cells)
    weight = np.ceil(scaled - 1e-9).astype(np.int64)
    items, best, keep = _table(value, weight, cells, trace=True)
    chosen = np.zeros(len(value), dtype=bool)
    room = int(np.argmax(best))
    for k in range(len(items) - 1, -1, -1):
        if keep[k, room]:
            chosen[items[k]] = True
            room -= int(weight[items[k]])
    _, relaxed, _ = _table(value, np.floor(scaled).astype(np.int64), cells, trace=False)
    return chosen, float(relaxed.max())


def _table(
    value: np.ndarray, weight: np.ndarray, capacity: int, trace: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0/1 knapsack table: the items worth considering, the best value for each whole
    capacity, and (with `trace`) which item improved which capacity."""
    items = np.flatnonzero((weight <= capacity) & (value > 0))
    best = np.zeros(capacity + 1)
    keep = np.zeros((len(items) if trace else 0, capacity + 1), dtype=bool)
    for k, i in enumerate(items):
        w = int(weight[i])
        candidate = best[: capacity + 1 - w] + value[i]  # from the values before item i
        better = candidate > best[w:]
        if trace:
            keep[k, w:] = better
        best[w:] = np.where(better, candidate, best[w:])
    return items, best, keep


def _milp(
    value: np.ndarray, cost: np.ndarray, budget: float, groups: np.ndarray, group_cap: float
) -> tuple[np.ndarray, float]:
    """The capped choice, and HiGHS's proven bound on its best value (inf if none)."""
    rows, limits = [cost], [budget]
    for g in np.unique(groups):
        rows.append(np.where(groups == g, cost, 0.0))
        limits.append(group_cap)
    result = milp(
        c=-value,
        constraints=LinearConstraint(np.vstack(rows), -np.inf, np.asarray(limits)),
        integrality=np.ones(len(value)),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": MIP_GAP, "disp": False, "time_limit": MIP_SECONDS},
    )
    bound = -float(result.mip_dual_bound) if result.get("mip_dual_bound") is not None else np.inf
    if result.x is None:
        return np.zeros(len(value), dtype=bool), bound
    return result.x > 0.5, bound


def plan(
    creators: pd.DataFrame,
    campaign: Mapping[str, Any] | pd.DataFrame,
    budget_usd: float,
    model: str | os.PathLike[str] | Recommender | None = None,
    explore: float = 0.0,
    constraints: Constraints | None = None,
) -> Plan:
    """Score the candidates, then choose whom to hire within budget_usd."""
    if not budget_usd > 0:
        raise ValueError("budget must be positive")
    if not 0 <= explore < 1:
        raise ValueError("explore must be a share of the budget, from 0 to below 1")
    constraints = constraints or Constraints()
    result = score_with_rejects(creators, campaign, model)
    scored = result.scored.copy()
    if scored["campaign_id"].nunique() > 1:
        raise ValueError("plan one campaign at a time")
    scored["why_not"] = eligibility(scored, constraints)
    eligible = scored[scored["why_not"] == ""]

    exploit_budget = budget_usd * (1 - explore)
    niche = eligible["niche"].astype(str).to_numpy() if constraints.max_niche_share else None
    cap = constraints.max_niche_share * budget_usd if constraints.max_niche_share else None
    chosen, bound = knapsack(
        eligible["expected_lift_usd"].to_numpy(float),
        eligible["cost_usd"].to_numpy(float),
        exploit_budget,
        niche,
        cap,
    )
    picked = eligible[chosen].assign(exploration=False)
    picked["why"] = [
        f"expected ${lift:,.0f} for ${cost:,.0f} (ROI {roi:.2f}); {reasons}"
        for lift, cost, roi, reasons in zip(
            picked["expected_lift_usd"], picked["cost_usd"], picked["expected_roi"],
            picked["reasons"], strict=True,
        )
    ]  # fmt: skip
    explored = _explore(
        eligible[~chosen], budget_usd - float(picked["cost_usd"].sum()), explore > 0,
        cap, picked.groupby("niche")["cost_usd"].sum().to_dict(),
    )  # fmt: skip
    hired = pd.concat([picked, explored], ignore_index=True)

    expected, low, high = _interval(hired)
    star = _star_plan(scored[scored["expected_lift_usd"].notna()], budget_usd)
    star_expected, star_low, star_high = _interval(star)
    cost = float(hired["cost_usd"].sum())
    summary = {
        "campaign_id": str(scored["campaign_id"].iloc[0]) if len(scored) else "",
        "budget_usd": budget_usd,
        "creators": len(hired),
        "exploration_creators": int(hired["exploration"].sum()),
        "total_cost_usd": round(cost, 2),
        "expected_lift_usd": round(expected, 2),
        "lift_low_usd": round(low, 2),
        "lift_high_usd": round(high, 2),
        "expected_roi": round(expected / cost, 4) if cost else float("nan"),
        "optimality_gap": round(max(bound - float(picked["expected_lift_usd"].sum()), 0) / bound, 6)
        if bound
        else 0.0,
        "largest_creators_expected_lift_usd": round(star_expected, 2),
        "largest_creators_interval_usd": [round(star_low, 2), round(star_high, 2)],
        "largest_creators_count": len(star),
    }
    first = ["rank", "creator_id", "exploration", "cost_usd", "expected_lift_usd", "lift_low_usd",
             "lift_high_usd", "expected_roi", "tier", "flags", "why"]  # fmt: skip
    columns = first + [c for c in hired.columns if c not in first and c != "why_not"]
    return Plan(hired[columns], summary, scored, result.rejects)


def _explore(
    rest: pd.DataFrame,
    reserve: float,
    enabled: bool,
    niche_cap: float | None = None,
    niche_spent: Mapping[Any, float] | None = None,
) -> pd.DataFrame:
    """One creator per untried segment, by optimistic lift per dollar, within the reserve.

    With a `niche_cap`, what the plan already spends per niche (`niche_spent`)
    counts against it, so exploration never breaks the cap.
    """
    if not enabled or reserve <= 0 or rest.empty:
        return rest.iloc[:0].assign(exploration=True, why="")
    country = rest.get("audience_country", pd.Series("?", index=rest.index)).fillna("?")
    segment = rest["niche"].astype(str) + " x " + country.astype(str) + " x " + rest["tier"]
    optimism = rest["lift_high_usd"] / rest["cost_usd"]
    best = rest.assign(_segment=segment, _optimism=optimism).sort_values(
        ["_optimism", "creator_id"], ascending=[False, True]
    )
    best = best.drop_duplicates("_segment")
    take, spent = [], 0.0
    by_niche = dict(niche_spent or {})
    cap = np.inf if niche_cap is None else niche_cap
    for index, niche, cost in zip(best.index, best["niche"], best["cost_usd"], strict=True):
        if spent + cost <= reserve and by_niche.get(niche, 0.0) + cost <= cap:
            take.append(index)
            spent += float(cost)
            by_niche[niche] = by_niche.get(niche, 0.0) + cost
    out = best.loc[take].drop(columns=["_optimism"])
    out["why"] = [f"exploring {s}: up to ${h:,.0f} if it sells" for s, h in
                  zip(out["_segment"], out["lift_high_usd"], strict=True)]  # fmt: skip
    return out.drop(columns=["_segment"]).assign(exploration=True)


def _star_plan(scored: pd.DataFrame, budget: float) -> pd.DataFrame:
    """The same budget spent on the largest creators that fit, biggest first."""
    ordered = scored.sort_values(["followers", "creator_id"], ascending=[False, True])
    take, spent = [], 0.0
    for index, cost in zip(ordered.index, ordered["cost_usd"].to_numpy(float), strict=True):
        if cost > 0 and spent + cost <= budget:
            take.append(index)
            spent += cost
    return scored.loc[take]
