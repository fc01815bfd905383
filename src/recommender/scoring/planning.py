"""Budget plans: which creators to hire so total expected lift is highest within the budget.

    plan(creators, campaign, budget_usd, recommender, explore=0.0, constraints=None,
         seed=None) -> Plan

The selection is a 0/1 knapsack solved exactly by dynamic programming over
costs rounded up to 1/20,000 of the budget (so never over budget). Caps on the
share of the budget per niche or per audience segment (niche x audience
country x tier) that this choice breaks make it a mixed-integer program,
solved by HiGHS to within MIP_GAP (or as close as its MIP_SECONDS limit gets).
The summary reports a proven optimality gap against an upper bound on the best possible value: the
tightest of the LP relaxation's, the same programme's over costs rounded down
and, with caps, HiGHS's dual bound (the plan is at least that close to the
best possible). A greedy sort by return per dollar can miss by up to the value
of one creator.

Exploration (`explore` > 0) reserves that share of the budget for learning: it
goes to audience segments the exploitation plan left out, one creator per
segment, by Thompson sampling: each candidate's lift is drawn from its predictive
distribution (a two-piece normal: the expected lift its median, each end of its interval
where the interval puts it), each untried segment offers its best positive draw per
dollar, and the offers are hired best first while the reserve and the caps have room.
The plan is one such draw. DRAWS more, from the same seed, give how often each creator
would have been chosen: its `selection_probability`, which `plan.csv` states (1 for the
creators exploitation chose, which no draw changes) beside its `policy` (exploit or
explore) and the `shortlist_id` of the candidates no rule left out. Fed back with the
outcomes, they say how each hire was chosen. The seed defaults to one derived from the
shortlist: the same campaign and candidates, in any order, give the same plan.
"""

from __future__ import annotations

import hashlib
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.optimize import Bounds, LinearConstraint, milp

from recommender import contract
from recommender.errors import SettingError
from recommender.features import sponsorship_ratio
from recommender.scoring import explain
from recommender.scoring.score import CampaignInput, score_with_rejects

if TYPE_CHECKING:
    from recommender.modeling.estimator import Recommender

MIP_GAP = 1e-3
MIP_SECONDS = 10.0
EXCLUDED_FLAGS = ("suspect_followers", "high_sponsorship")
# Exploration's draws besides the plan's own: a creator's share of all 401 is its stated
# selection_probability, within 0.05 of the truth 95% of the time (1.96 standard errors
# at p = 0.5). Counting the plan's own draw lifts a chosen creator's share by at most
# 1/401 and keeps it above 0.
DRAWS = 400
EXPLOIT, EXPLORE = "exploit", "explore"  # plan.csv's policy: how a creator was chosen


def setting_number(value: object, name: str) -> float:
    """A setting given as a number (an int, a Decimal, a numpy number) as a float;
    SettingError for anything else ("3000", True)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (numbers.Real, np.number, Decimal)
    ):
        raise SettingError(f"{name} must be a number (got {value!r})")
    return float(value)


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
    max_segment_share: float | None = None  # of the budget, per audience segment

    def __post_init__(self) -> None:
        """Refuse limits no plan could meet or that would quietly match nothing."""
        for name in ("min_followers", "max_followers", "max_sponsorship_ratio",
                     "max_niche_share", "max_segment_share"):  # fmt: skip
            if getattr(self, name) is not None:
                object.__setattr__(self, name, setting_number(getattr(self, name), name))
        if self.platform is not None:
            platform = str(self.platform).strip().lower()
            if platform not in contract.PLATFORMS:
                raise SettingError(f"platform must be one of {', '.join(contract.PLATFORMS)} "
                                   f"(got {self.platform!r})")  # fmt: skip
            object.__setattr__(self, "platform", platform)  # as creators' are: lower case
        for name in ("max_niche_share", "max_segment_share"):
            share = getattr(self, name)
            if share is not None and not 0 < share <= 1:
                raise SettingError(f"{name} must be a share above 0 and at most 1 (got {share})")
        ratio = self.max_sponsorship_ratio
        if ratio is not None and not 0 <= ratio <= 1:
            raise SettingError(f"max_sponsorship_ratio must be from 0 to 1 (got {ratio})")
        low, high = self.min_followers, self.max_followers
        for name, count in (("min_followers", low), ("max_followers", high)):
            if count is not None and not 0 <= count < np.inf:
                raise SettingError(f"{name} must be a follower count, 0 or more (got {count})")
        if low is not None and high is not None and low > high:
            raise SettingError(f"min_followers {low:,.0f} is above max_followers {high:,.0f}")
        if self.target_country is not None:
            country = str(self.target_country).strip().upper()
            if not re.fullmatch(r"[A-Z]{2}", country):
                given = self.target_country
                raise SettingError(
                    f"target_country must be a two-letter country code (got {given!r})"
                )
            object.__setattr__(self, "target_country", country)  # as creators' are: upper case
        unknown = sorted(set(self.excluded_flags) - set(explain.FLAGS))
        if unknown:
            raise SettingError(
                f"excluded_flags: unknown {', '.join(unknown)} (known: {', '.join(explain.FLAGS)})"
            )


@dataclass(frozen=True)
class Plan:
    """A budget plan: whom to hire, what it is expected to bring, and what was left out.

    chosen: the hired creators, best first, with `exploration` and `why`;
    summary: totals, the expected lift's interval, the proven optimality gap, the
    same budget on the largest creators, and how many candidates each rule left out;
    candidates: every scored candidate with `why_not` ("" when it could be hired);
    rejects: input rows that could not be scored, with reject_reason.
    """

    chosen: pd.DataFrame  # the hired creators, with why each was picked
    summary: dict[str, Any]
    candidates: pd.DataFrame
    rejects: pd.DataFrame = field(default_factory=pd.DataFrame)


def segments(rows: pd.DataFrame) -> pd.Series:
    """Each creator's audience segment: niche x audience country x tier ("?" if unknown)."""
    country = rows.get("audience_country", pd.Series("?", index=rows.index)).fillna("?")
    return rows["niche"].astype(str) + " x " + country.astype(str) + " x " + rows["tier"]


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
    if constraints.target_country:
        country = scored.get("audience_country", pd.Series(pd.NA, index=scored.index))
        rule(country.isna(), "audience country unknown")
        rule(country != constraints.target_country, "audience elsewhere")
    if constraints.min_followers is not None:
        rule(scored["followers"] < constraints.min_followers, "too few followers")
    if constraints.max_followers is not None:
        rule(scored["followers"] > constraints.max_followers, "too many followers")
    if constraints.max_sponsorship_ratio is not None:
        ratio = sponsorship_ratio(scored)
        rule(ratio.isna(), "sponsorship unknown")
        rule(ratio > constraints.max_sponsorship_ratio, "sponsors too often")
    for flag in constraints.excluded_flags:
        rule(
            scored["flags"].astype(str).str.split(";").apply(lambda f, x=flag: x in f),
            f"flagged {flag}",
        )
    return why


class Cap(NamedTuple):
    """A cap on what any one group of items may cost."""

    groups: np.ndarray  # each item's group
    limit: float  # the most any one group may cost


def knapsack(
    value: np.ndarray, cost: np.ndarray, budget: float, caps: Sequence[Cap] = ()
) -> tuple[np.ndarray, float]:
    """0/1 choice maximising value within budget (and each cap); returns (chosen, bound).

    The choice is exact dynamic programming over costs rounded up to
    budget/20,000 (never over budget; an item dearer than the budget is never
    chosen, however small the budget); when that choice breaks a cap, a
    mixed-integer program (HiGHS, to MIP_GAP within MIP_SECONDS) over the caps.
    `bound` is a proven upper bound on the best total value: the tightest of the
    LP relaxation's, the same programme's over costs rounded down and, when
    HiGHS ran, its dual bound. So (bound - value) / bound is a guaranteed
    optimality gap.
    """
    chosen = np.zeros(len(value), dtype=bool)
    # An item dearer than the whole budget is in no feasible choice. Leaving it out
    # first also keeps a tiny budget from scaling its cost past what an integer holds.
    fits = np.maximum(cost, 0) <= budget  # a NaN cost never fits
    if not budget > 0 or not fits.any():
        return chosen, 0.0
    value, cost = value[fits], cost[fits]
    caps = [Cap(np.asarray(groups)[fits], limit) for groups, limit in caps]
    picked, relaxed = _dynamic_programme(value, cost, budget)
    bound = min(lp_bound(value, cost, budget), relaxed)  # caps only lower the best value
    # When the uncapped best keeps to every cap it is the best; else the caps need HiGHS.
    if not all(group_totals(cap.groups, cost * picked)[1].max() <= cap.limit for cap in caps):
        picked, milp_bound = _milp(value, cost, budget, caps)
        bound = min(bound, milp_bound)
    chosen[fits] = picked
    return chosen, bound


def group_totals(groups: np.ndarray, amount: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each item's group code, and the total amount per group (in code order)."""
    names, code = np.unique(groups, return_inverse=True)
    return code, np.bincount(code, weights=amount, minlength=len(names))


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
    # cost / budget first: budget / cells underflows to 0 for a tiny budget.
    scaled = np.maximum(cost, 0) / budget * cells
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
    value: np.ndarray, cost: np.ndarray, budget: float, caps: Sequence[Cap]
) -> tuple[np.ndarray, float]:
    """The capped choice, and HiGHS's proven bound on its best value (inf if none).

    An item costing more than any cap (every item is in a group of each cap) can
    never be chosen; leaving it out also tightens the relaxation HiGHS bounds with.
    """
    fits = cost <= min([budget, *(limit for _, limit in caps)])
    chosen = np.zeros(len(value), dtype=bool)
    if not fits.any():
        return chosen, 0.0
    matrix, limits = _cap_rows(cost[fits], budget, [Cap(g[fits], limit) for g, limit in caps])
    result = milp(
        c=-value[fits],
        constraints=LinearConstraint(matrix, -np.inf, limits),
        integrality=np.ones(int(fits.sum())),
        bounds=Bounds(0, 1),
        # HiGHS's presolve alone took 2-3 s on 10,000 candidates and saved no time.
        options={
            "mip_rel_gap": MIP_GAP,
            "disp": False,
            "time_limit": MIP_SECONDS,
            "presolve": False,
        },
    )
    bound = -float(result.mip_dual_bound) if result.get("mip_dual_bound") is not None else np.inf
    if result.x is not None:
        chosen[fits] = result.x > 0.5
    return chosen, bound


def _cap_rows(
    cost: np.ndarray, budget: float, caps: Sequence[Cap]
) -> tuple[sparse.csr_array, np.ndarray]:
    """The budget row and one row per capped group that could exceed its cap (sparse)."""
    n = len(cost)
    blocks, limits = [sparse.csr_array(cost.reshape(1, n))], [budget]
    for groups, limit in caps:
        code, spend = group_totals(groups, cost)
        binding = spend > limit  # a group that cannot exceed its cap needs no row
        row = np.cumsum(binding) - 1
        members = binding[code]
        blocks.append(
            sparse.csr_array(
                (cost[members], (row[code[members]], np.flatnonzero(members))),
                shape=(int(binding.sum()), n),
            )
        )
        limits += [limit] * int(binding.sum())
    return sparse.vstack(blocks, format="csr"), np.asarray(limits, dtype=float)


def plan(
    creators: pd.DataFrame,
    campaign: CampaignInput,
    budget_usd: float,
    model: Recommender,
    explore: float = 0.0,
    constraints: Constraints | None = None,
    seed: int | None = None,
) -> Plan:
    """Score the candidates for one campaign, then choose whom to hire within `budget_usd`.

    creators and campaign: as for `recommender.score` (one campaign only).
    model: a fitted Recommender (recommender.plan loads one from a path or MLflow,
    and names it in the summary). explore: the share of the budget (0 to below 1) kept
    for creators in audience segments the plan does not already hire in.
    constraints: what to rule out or cap (Constraints(); flagged accounts are
    left out by default). seed: exploration's draws (None: one derived from the
    candidates). Raises SettingError (a ValueError) for settings no plan can meet,
    ScoringError when nothing can be scored.
    """
    budget_usd = setting_number(budget_usd, "budget")
    explore = setting_number(explore, "explore")
    if not 0 < budget_usd <= contract.MAX_MAGNITUDE:  # beyond any campaign: a typo
        raise SettingError(f"budget must be a positive amount of USD up to "
                           f"{contract.MAX_MAGNITUDE:,.0f} (got {budget_usd:g})")  # fmt: skip
    if not 0 <= explore < 1:
        raise SettingError("explore must be a share of the budget, from 0 to below 1")
    constraints = constraints or Constraints()
    result = score_with_rejects(creators, campaign, model)
    scored = result.scored.copy()
    if scored["campaign_id"].nunique() > 1:
        raise SettingError("plan one campaign at a time")
    scored["why_not"] = eligibility(scored, constraints)
    eligible = scored[scored["why_not"] == ""]
    campaign_id = str(scored["campaign_id"].iloc[0]) if len(scored) else ""
    shortlist = shortlist_id(campaign_id, eligible)
    seed = _seed(seed, shortlist)
    # How many standard deviations the lift interval spans on each side of the estimate.
    z = float(stats.norm.ppf(0.5 + model.interval_coverage / 2))
    hired, gap = _hire(eligible, budget_usd, explore, constraints, np.random.default_rng(seed), z)
    hired["shortlist_id"] = shortlist
    summary = _summary(scored, hired, budget_usd, gap)
    summary.update(shortlist_id=shortlist, seed=seed)
    first = ["rank", "creator_id", "exploration", "selection_probability", "policy", "cost_usd",
             "expected_lift_usd", "lift_low_usd", "lift_high_usd", "expected_roi", "tier",
             "flags", "why", "shortlist_id"]  # fmt: skip
    columns = first + [c for c in hired.columns if c not in first and c != "why_not"]
    return Plan(hired[columns], summary, scored, result.rejects)


def shortlist_id(campaign_id: str, eligible: pd.DataFrame) -> str:
    """The candidates a plan chose from (those no rule left out), named: the campaign, and
    a digest of their creator ids in any order."""
    ids = sorted(eligible["creator_id"].astype(str))
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12]
    return f"{campaign_id}:{digest}"


def _seed(seed: object, shortlist: str) -> int:
    """Exploration's seed: `seed` if given (a whole number from 0), else one derived from
    the shortlist, so that the same campaign and candidates give the same plan."""
    if seed is None:
        return int(hashlib.sha256(shortlist.encode()).hexdigest()[:15], 16)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise SettingError(f"seed must be a whole number from 0 (got {seed!r})")
    return int(seed)


def _hire(
    eligible: pd.DataFrame,
    budget_usd: float,
    explore: float,
    constraints: Constraints,
    rng: np.random.Generator,
    z: float,
) -> tuple[pd.DataFrame, float]:
    """The creators to hire (exploiting, then exploring), and the exploiting part's proven
    optimality gap: how far below the best possible expected lift it may be, as a share."""
    segment = segments(eligible)
    caps = [
        Cap(groups.to_numpy(dtype=str), share * budget_usd)
        for groups, share in (
            (eligible["niche"].astype(str), constraints.max_niche_share),
            (segment, constraints.max_segment_share),
        )
        if share
    ]
    chosen, bound = knapsack(
        eligible["expected_lift_usd"].to_numpy(float),
        eligible["cost_usd"].to_numpy(float),
        budget_usd * (1 - explore),
        caps,
    )
    picked = eligible[chosen].assign(exploration=False, selection_probability=1.0, policy=EXPLOIT)
    picked["why"] = [
        f"expected ${lift:,.0f} for ${cost:,.0f} (ROI {roi:.2f}); {reasons}"
        for lift, cost, roi, reasons in zip(
            picked["expected_lift_usd"], picked["cost_usd"], picked["expected_roi"],
            picked["reasons"], strict=True,
        )
    ]  # fmt: skip
    reserve = budget_usd - float(picked["cost_usd"].sum())
    explored = _explore(eligible, segment, chosen, reserve, explore > 0, caps, rng, z)
    hired = pd.concat([picked, explored], ignore_index=True)
    # The bound is on what exploiting can reach: the gap is the exploiting part's.
    exploiting_lift = float(picked["expected_lift_usd"].sum())
    return hired, (max(bound - exploiting_lift, 0) / bound if bound else 0.0)


def _summary(
    scored: pd.DataFrame, hired: pd.DataFrame, budget_usd: float, gap: float
) -> dict[str, Any]:
    """What a plan costs and is expected to bring, against the largest creators' plan."""
    expected, low, high = _interval(hired)
    star = _star_plan(scored[scored["expected_lift_usd"].notna()], budget_usd)
    star_expected, star_low, star_high = _interval(star)
    cost = float(hired["cost_usd"].sum())
    return {
        "campaign_id": str(scored["campaign_id"].iloc[0]) if len(scored) else "",
        "budget_usd": budget_usd,
        "creators": len(hired),
        "exploration_creators": int(hired["exploration"].sum()),
        "total_cost_usd": round(cost, 2),
        "expected_lift_usd": round(expected, 2),
        "lift_low_usd": round(low, 2),
        "lift_high_usd": round(high, 2),
        "expected_roi": round(expected / cost, 4) if cost else None,  # nothing spent
        "optimality_gap": round(gap, 6),
        "largest_creators_expected_lift_usd": round(star_expected, 2),
        "largest_creators_interval_usd": [round(star_low, 2), round(star_high, 2)],
        "largest_creators_count": len(star),
        # How many candidates each rule left out, most first.
        "left_out": {
            str(reason): int(n)
            for reason, n in scored.loc[scored["why_not"] != "", "why_not"].value_counts().items()
        },
    }


def _explore(
    eligible: pd.DataFrame,
    segment: pd.Series,
    chosen: np.ndarray,
    reserve: float,
    enabled: bool,
    caps: Sequence[Cap],
    rng: np.random.Generator,
    z: float,
) -> pd.DataFrame:
    """One creator per untried segment, by Thompson sampling, within the reserve; each with
    the share of 1 + DRAWS draws that chose it (see the module's docstring). A lift is
    drawn from a two-piece normal: its median the expected lift, `z` standard deviations
    from it to each end of the interval, so each end is where the interval says.

    Segments the plan already hires in are tried; what it spends (the `chosen`
    rows) counts against every cap, so exploration never breaks one.
    """
    untried = ~chosen & ~segment.isin(set(segment[chosen])).to_numpy()
    # By creator: the same candidates in any order draw alike.
    rows = np.flatnonzero(untried)
    rows = rows[np.argsort(eligible["creator_id"].to_numpy(str)[rows], kind="stable")]
    rest = eligible.iloc[rows]
    if not enabled or reserve <= 0 or rest.empty:
        return rest.iloc[:0].assign(exploration=True, selection_probability=1.0, policy=EXPLORE,
                                    why="")  # fmt: skip
    cost = eligible["cost_usd"].to_numpy(float)[rows]
    groups = pd.factorize(segment.iloc[rows])[0]
    # Per cap: each untried creator's group, and what each group has spent so far.
    everyone = eligible["cost_usd"].to_numpy(float) * chosen
    room = []
    for cap in caps:
        code, totals = group_totals(cap.groups, everyone)
        room.append((code[rows], totals, cap.limit))
    expected = rest["expected_lift_usd"].to_numpy(float)
    below = np.nan_to_num((expected - rest["lift_low_usd"].to_numpy(float)) / z).clip(0)
    above = np.nan_to_num((rest["lift_high_usd"].to_numpy(float) - expected) / z).clip(0)
    taken = np.empty((1 + DRAWS, len(rest)), dtype=bool)
    for draw in range(1 + DRAWS):
        noise = rng.standard_normal(len(rest))
        lift = expected + noise * np.where(noise < 0, below, above)
        taken[draw] = _one_draw(lift / cost, cost, groups, reserve, room)
    times = taken.sum(axis=0)
    out = rest[taken[0]].assign(
        exploration=True, selection_probability=times[taken[0]] / (1 + DRAWS), policy=EXPLORE
    )
    out["why"] = [
        f"exploring {s}: chosen in {n} of {1 + DRAWS} draws of its lift; up to ${h:,.0f} "
        "if it sells"
        for s, n, h in zip(segment.iloc[rows[taken[0]]], times[taken[0]], out["lift_high_usd"],
                           strict=True)
    ]  # fmt: skip
    return pd.DataFrame(out)


def _one_draw(
    value: np.ndarray,
    cost: np.ndarray,
    groups: np.ndarray,
    reserve: float,
    room: list[tuple[np.ndarray, np.ndarray, float]],
) -> np.ndarray:
    """One draw's exploration: each segment's best positive `value` (drawn lift per dollar),
    then the best of those while the reserve and every cap have room; which were taken."""
    order = np.lexsort((-value, groups))
    best = order[np.r_[True, groups[order][1:] != groups[order][:-1]]]
    best = best[value[best] > 0]
    taken = np.zeros(len(value), dtype=bool)
    spent, totals = 0.0, [t.copy() for _, t, _ in room]
    cheapest = float(cost[best].min()) if best.size else np.inf
    for i in best[np.argsort(-value[best], kind="stable")]:
        if reserve - spent < cheapest:
            break  # nothing left fits
        fits = all(total[code[i]] + cost[i] <= limit
                   for (code, _, limit), total in zip(room, totals, strict=True))  # fmt: skip
        if spent + cost[i] <= reserve and fits:
            taken[i] = True
            spent += cost[i]
            for (code, _, _), total in zip(room, totals, strict=True):
                total[code[i]] += cost[i]
    return taken


def _star_plan(scored: pd.DataFrame, budget: float) -> pd.DataFrame:
    """The same budget spent on the largest creators that fit, biggest first."""
    ordered = scored.sort_values(["followers", "creator_id"], ascending=[False, True])
    take, spent = [], 0.0
    for index, cost in zip(ordered.index, ordered["cost_usd"].to_numpy(float), strict=True):
        if cost > 0 and spent + cost <= budget:
            take.append(index)
            spent += cost
    return scored.loc[take]
