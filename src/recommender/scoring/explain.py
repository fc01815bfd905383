"""Flags (named risks), reasons (why a creator ranks where it does) and summaries, in plain words.

Reasons come from the model's own per-feature contributions (tree-path
contributions, see trees.py): the features that moved this creator's score
most, up or down, each phrased with the creator's own values. Flags are
simple, documented thresholds on the features, for a human to check before
hiring. `top_rows` and `plan_lines` put scored rows and a plan into lines a
person reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from recommender.contract import CAMPAIGN_PREFIX, DEFAULT_OBJECTIVE, people_count, tier_of
from recommender.features import FEATURES

# Flag thresholds; each is a risk a brand would want to see before hiring.
HIGH_SPONSORSHIP = 0.3  # about one post in three sponsored
PRICE_ABOVE_MARKET = 2.0  # asks twice what similar creators ask
AGE_GAP_YEARS = 5.0
GENDER_GAP = 0.3


FLAGS = ("high_sponsorship", "suspect_followers", "price_above_tier", "audience_mismatch",
         "price_estimated", "price_unknown", "unlike_past_hires")  # fmt: skip


def flags(
    X: pd.DataFrame, anomaly_threshold: float, unlike_hires: np.ndarray | None = None
) -> np.ndarray:
    """A `;`-joined list of risks per row (empty string when none); `unlike_hires` holds
    why a row is unlike any the history hired ('' for the others)."""

    def x(name: str) -> np.ndarray:  # comparisons of NaN are False, as a Series's are
        return X[name].to_numpy(dtype=float)

    tell_tale = (
        (x("following_ratio") > 0.5)
        | (x("follower_growth_30d") > 0.2)
        | (x("comment_like_vs_tier") < 0.4)
    )
    named = {
        "high_sponsorship": x("sponsorship_ratio") >= HIGH_SPONSORSHIP,
        "suspect_followers": (x("anomaly_score") > anomaly_threshold) & tell_tale,
        "price_above_tier": x("price_vs_market") > PRICE_ABOVE_MARKET,
        "audience_mismatch": (x("country_match") == 0)
        | (x("age_gap_years") > AGE_GAP_YEARS)
        | (x("gender_gap") > GENDER_GAP),
        "price_estimated": x("price_estimated") == 1,
        "price_unknown": np.isnan(x("price_usd")),
        "unlike_past_hires": (
            np.zeros(len(X), dtype=bool) if unlike_hires is None else unlike_hires != ""
        ),
    }
    out = np.full(len(X), "", dtype=object)
    for name in FLAGS:  # in this order, so a row's flags always read the same way
        hit = named[name]
        out[hit] = [f"{o};{name}" if o else name for o in out[hit]]
    return out


class _Table:
    """Some rows of a frame, column by column as arrays: what the phrases read.

    Each column is converted once, the first time a phrase asks for it; `take` gives
    the same columns for fewer rows, sharing what was converted.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        rows: np.ndarray | None = None,
        converted: dict[tuple[str, str], Any] | None = None,
    ) -> None:
        self._frame, self._rows = frame, rows
        self._converted = {} if converted is None else converted

    @classmethod
    def of(cls, table: pd.DataFrame | _Table) -> _Table:
        """A table of every row of a frame (a table as it is)."""
        return table if isinstance(table, _Table) else cls(table)

    def __len__(self) -> int:
        return len(self._frame) if self._rows is None else len(self._rows)

    def __contains__(self, column: str) -> bool:
        return column in self._frame.columns

    def take(self, rows: np.ndarray) -> _Table:
        """The table of some of these rows (positions)."""
        taken = rows if self._rows is None else self._rows[rows]
        return _Table(self._frame, taken, self._converted)

    def numbers(self, column: str) -> np.ndarray:
        """A column as floats, NaN where missing (everywhere when the frame lacks it)."""
        if ("numbers", column) not in self._converted:
            self._converted["numbers", column] = (
                self._frame[column].to_numpy(dtype=float, na_value=np.nan)
                if column in self
                else np.full(len(self._frame), np.nan)
            )
        values: np.ndarray = self._converted["numbers", column]
        return values if self._rows is None else values[self._rows]

    def texts(self, column: str, default: str | None = None) -> list[Any]:
        """A column's values as Python objects, `default` where missing or absent."""
        if column not in self:
            return [default] * len(self)
        if ("texts", column) not in self._converted:
            given = self._frame[column]
            self._converted["texts", column] = (given.astype(object).to_numpy(),
                                                given.isna().to_numpy())  # fmt: skip
        values, missing = self._converted["texts", column]
        rows = slice(None) if self._rows is None else self._rows
        chosen = values[rows].copy()
        chosen[missing[rows]] = default
        return list(chosen.tolist())


def _numbers(values: np.ndarray) -> list[float]:
    """Values as Python floats (NaN where missing): quick to loop over."""
    numbers: list[float] = np.asarray(values, dtype=float).tolist()
    return numbers


def _fmt(values: np.ndarray, pattern: str, unknown: str = "unknown") -> list[str]:
    """Values formatted by `pattern`; `unknown` where a value is missing."""
    return [unknown if v != v else pattern.format(v) for v in _numbers(values)]


def _pct(values: np.ndarray) -> list[str]:
    """Values as whole percentages."""
    return _fmt(values, "{:.0%}")


def _times(values: np.ndarray) -> list[str]:
    """Values as multiples ("2.1x")."""
    return _fmt(values, "{:.1f}x")


def usd(value: float) -> str:
    """Dollars for people: whole dollars ($1,234, -$35), cents under a dollar ($0.01, so
    that a small amount never reads as none), powers of ten beyond a quadrillion
    ($1.00e+300), $? when unknown."""
    if pd.isna(value):
        return "$?"
    amount = abs(value)
    if amount >= 1e15:
        digits = f"{amount:.2e}"
    elif 0.005 <= amount < 1:  # below half a cent rounds to $0, as it would to $0.00
        digits = f"{amount:.2f}"
    else:
        digits = f"{amount:,.0f}"
    return f"-${digits}" if value < 0 else f"${digits}"


def _money(values: np.ndarray) -> list[str]:
    """Values as whole dollars ("unknown" where missing)."""
    return ["unknown" if v != v else usd(v) for v in _numbers(values)]


def _niche(P: _Table) -> tuple[list[str | None], list[str | None]]:
    """The creator's niche and the campaign's, for each row."""
    return P.texts("niche", "?"), P.texts(f"{CAMPAIGN_PREFIX}niche", "?")


def _niche_exact(X: _Table, P: _Table) -> list[str]:
    """Phrases for niche_exact."""
    creator, campaign = _niche(P)
    return [_niche_match(a, b) for a, b in zip(creator, campaign, strict=True)]


def _niche_match(a: str | None, b: str | None) -> str:
    """One phrase for 'same niche or not', shared by the niche features."""
    return f"niche match: {a} = {b}" if a == b else f"niche differs: {a} vs {b}"


def _affinity(X: _Table, P: _Table) -> list[str]:
    """Phrases for niche_affinity."""
    creator, campaign = _niche(P)
    return [
        f"past {a} creators in {b} campaigns did {'well' if v >= 0.5 else 'poorly'}"
        for a, b, v in zip(creator, campaign, _numbers(X.numbers("niche_affinity")), strict=True)
    ]


def _similarity(X: _Table, P: _Table) -> list[str]:
    """Phrases for niche_similarity."""
    creator, campaign = _niche(P)
    similarity = _numbers(X.numbers("niche_similarity"))
    return [
        _niche_match(a, b)
        if a == b
        else f"{a} creators {'often' if v >= 0.1 else 'rarely'} also post about {b}"
        if v == v
        else "niche relation unknown"
        for a, b, v in zip(creator, campaign, similarity, strict=True)
    ]


def _secondary(X: _Table, P: _Table) -> list[str]:
    """Phrases for the secondary-niche features."""
    _, campaign = _niche(P)
    hits = _numbers(X.numbers("niche_in_secondary"))
    known = X.numbers("secondary_niche_affinity")
    affinity = _numbers(np.where(np.isnan(known), 0.0, known))
    return [
        f"also posts about {b}" if hit == 1 else f"side niches {'suit' if v >= 0.5 else 'miss'} {b}"
        for b, hit, v in zip(campaign, hits, affinity, strict=True)
    ]


def _country(X: _Table, P: _Table) -> list[str]:
    """Phrases for country_match."""
    audience = P.texts("audience_country")
    target = P.texts(f"{CAMPAIGN_PREFIX}target_country")
    out = []
    for a, t, m in zip(audience, target, _numbers(X.numbers("country_match")), strict=True):
        if t is None:
            out.append("no target country to miss")
        elif a is None:
            out.append(f"audience country unknown (target {t})")
        else:
            out.append(
                f"audience in {a} = target {t}" if m == 1 else f"audience in {a}, target {t}"
            )
    return out


def _age(X: _Table, P: _Table) -> list[str]:
    """Phrases for the audience age features."""
    age, gap = _numbers(P.numbers("audience_age_median")), _numbers(X.numbers("age_gap_years"))
    return [
        "audience age unknown"
        if g != g
        else (
            f"audience age {a:.0f} in target range"
            if g == 0
            else f"audience age {a:.0f}, {g:.0f} years off target"
        )
        for a, g in zip(age, gap, strict=True)
    ]


def _gender(X: _Table, P: _Table) -> list[str]:
    """Phrases for the audience gender features."""
    share, gap = _numbers(X.numbers("audience_female_share")), _numbers(X.numbers("gender_gap"))
    return [
        "audience gender unknown"
        if s != s
        else f"audience {s:.0%} female" + ("" if g != g else f", {g:.0%} off target")
        for s, g in zip(share, gap, strict=True)
    ]


def _followers(X: _Table, P: _Table) -> list[str]:
    """Phrases for the follower-count features."""
    followers = P.numbers("followers")
    tiers = tier_of(followers)
    return [
        f"{t} creator, {people_count(f)} followers"
        for f, t in zip(_numbers(followers), tiers, strict=True)
    ]


def _on_tables(phrase: Callable[[_Table, _Table], list[str]]) -> Phrase:
    """A phrase function that also takes whole frames (X, the pair frame) for its tables."""
    return lambda X, P: phrase(_Table.of(X), _Table.of(P))


CAMPAIGN_ONLY = ("log_product_price", "objective_code")

# Pair-frame columns the phrases quote, besides the features.
TEXT_COLUMNS = (
    "niche", f"{CAMPAIGN_PREFIX}niche", "audience_country", f"{CAMPAIGN_PREFIX}target_country",
    "platform", f"{CAMPAIGN_PREFIX}objective",
)  # fmt: skip
PHRASE_COLUMNS = (*TEXT_COLUMNS, "audience_age_median", "followers")

# Each feature's phrases, from the features (X) and the pair frame (P) of the same rows.
Phrase = Callable[[pd.DataFrame | _Table, pd.DataFrame | _Table], list[str]]
PHRASES: dict[str, Phrase] = {
    name: _on_tables(phrase)
    for name, phrase in {
        "niche_exact": _niche_exact,
        "niche_affinity": _affinity,
        "niche_similarity": _similarity,
        "niche_in_secondary": _secondary,
        "secondary_niche_affinity": _secondary,
        "country_match": _country,
        "age_gap_years": _age,
        "audience_age_median": _age,
        "gender_gap": _gender,
        "audience_female_share": _gender,
        "log_followers": _followers,
        "tier_code": _followers,
        "engagement_rate": lambda X, P: [
            f"engagement rate {v}" for v in _pct(X.numbers("engagement_rate"))
        ],
        "engagement_vs_tier": lambda X, P: [
            f"engagement {v} its tier" for v in _times(X.numbers("engagement_vs_tier"))
        ],
        "comment_like_ratio": lambda X, P: [
            f"{v} comments per 100 likes"
            for v in _fmt(100 * X.numbers("comment_like_ratio"), "{:.1f}")
        ],
        "comment_like_vs_tier": lambda X, P: [
            f"comments per like {v} its tier" for v in _times(X.numbers("comment_like_vs_tier"))
        ],
        "sponsorship_ratio": lambda X, P: _fmt(
            X.numbers("sponsorship_ratio"),
            "{:.0%} of recent posts sponsored",
            "sponsored share unknown",
        ),
        "recent_posts": lambda X, P: [
            f"{v} posts in 90 days" for v in _fmt(X.numbers("recent_posts"), "{:.0f}")
        ],
        "following_ratio": lambda X, P: [
            f"follows {v} accounts per follower"
            for v in _fmt(X.numbers("following_ratio"), "{:.2f}")
        ],
        "follower_growth_30d": lambda X, P: [
            f"followers {v} in 30 days" for v in _fmt(X.numbers("follower_growth_30d"), "{:+.0%}")
        ],
        "anomaly_score": lambda X, P: ["follower pattern" for _ in range(len(X))],
        "views_per_follower": lambda X, P: [
            f"{v} views per follower" for v in _fmt(X.numbers("views_per_follower"), "{:.2f}")
        ],
        "price_usd": lambda X, P: [f"price {v} a post" for v in _money(X.numbers("price_usd"))],
        "log_price": lambda X, P: [f"price {v} a post" for v in _money(X.numbers("price_usd"))],
        "price_estimated": lambda X, P: [
            "price estimated (not given)" if v == 1 else "price given"
            for v in _numbers(X.numbers("price_estimated"))
        ],
        "price_vs_market": lambda X, P: _fmt(
            X.numbers("price_vs_market"), "asks {:.1f}x what peers ask", "price vs peers unknown"
        ),
        "engagements_per_dollar": lambda X, P: [
            f"{v} engagements per dollar"
            for v in _fmt(X.numbers("engagements_per_dollar"), "{:.1f}")
        ],
        "followers_per_dollar": lambda X, P: [
            f"{v} followers per dollar" for v in _fmt(X.numbers("followers_per_dollar"), "{:,.0f}")
        ],
        "platform_code": lambda X, P: [f"on {v}" for v in P.texts("platform", "?")],
        "log_product_price": lambda X, P: [
            f"product price {v}" for v in _money(10 ** X.numbers("log_product_price") - 1)
        ],
        "objective_code": lambda X, P: [
            f"{v} campaign" for v in P.texts(f"{CAMPAIGN_PREFIX}objective", DEFAULT_OBJECTIVE)
        ],
    }.items()
}
assert set(PHRASES) == set(FEATURES), set(FEATURES) ^ set(PHRASES)


def with_unlike_hires(reasons: np.ndarray, unlike_hires: np.ndarray) -> np.ndarray:
    """Each row's reasons, and for a row unlike past hires, why it is (its interval is wide:
    the history cannot say how far off the model may be there)."""
    unlike = np.asarray(unlike_hires, dtype=object) != ""
    if not unlike.any():
        return reasons
    out = np.asarray(reasons, dtype=object).copy()
    said = "unlike any past hire: " + np.asarray(unlike_hires, dtype=object)[unlike]
    out[unlike] = [f"{r}; {u}" if r else u for r, u in zip(out[unlike], said, strict=True)]
    return out


def reasons(
    contributions: np.ndarray, X: pd.DataFrame, pairs: pd.DataFrame, top: int = 3
) -> np.ndarray:
    """The `top` features that moved each row's score most, phrased: '+ niche match: pet = pet'.

    `contributions` has one column per feature (in FEATURES order) plus the bias.
    """
    n, n_features = len(X), len(FEATURES)
    effect = contributions[:, :n_features].copy()
    # A reason says why this creator, so facts of the campaign alone are not cited:
    # the product's price, the objective, and a country match when there is no target.
    for feature in CAMPAIGN_ONLY:
        effect[:, FEATURES.index(feature)] = 0.0
    target = f"{CAMPAIGN_PREFIX}target_country"
    no_target = pairs[target].isna().to_numpy() if target in pairs.columns else np.ones(n, bool)
    effect[no_target, FEATURES.index("country_match")] = 0.0
    if top == 0:
        return np.full(n, "", dtype=object)
    order = _largest(np.abs(effect), top)
    phrases = np.empty((n, top), dtype=object)
    # The columns the phrases read, each converted once, whichever rows need it.
    features, given = _Table(X), _Table(pairs)
    # Each feature's cells of `order`, in row order, from one sort (not a scan per feature).
    cells = np.argsort(order.ravel(), kind="stable")
    bounds = np.searchsorted(order.ravel()[cells], np.arange(n_features + 1))
    for j, feature in enumerate(FEATURES):
        rows, slots = np.divmod(cells[bounds[j] : bounds[j + 1]], order.shape[1])
        if rows.size == 0:
            continue
        texts = np.asarray(PHRASES[feature](features.take(rows), given.take(rows)), dtype=object)
        phrases[rows, slots] = np.where(effect[rows, j] >= 0, "+ ", "- ").astype(object) + texts
    joined = phrases[:, 0]
    for slot in range(1, top):
        # Two features may say the same thing (both niche features: "niche match"): once.
        repeated = (phrases[:, :slot] == phrases[:, [slot]]).any(axis=1)
        joined = joined + np.where(repeated, "", "; " + phrases[:, slot])
    return np.asarray(joined, dtype=object)


def _largest(size: np.ndarray, top: int) -> np.ndarray:
    """The columns of each row's `top` largest values, largest first, the first of equal
    values first: np.argsort(-size, kind="stable")[:, :top], found by `top` argmax passes
    instead of a sort of every row (NaN, which argmax would take first: by the sort)."""
    top = min(top, size.shape[1])
    if np.isnan(size).any():
        return np.argsort(-size, axis=1, kind="stable")[:, :top]
    size = size.copy()
    order = np.empty((len(size), top), dtype=np.intp)
    rows = np.arange(len(size))
    for slot in range(top):
        order[:, slot] = size.argmax(axis=1)
        size[rows, order[:, slot]] = -1.0  # below every size
    return order


def top_rows(scored: pd.DataFrame) -> str:
    """Scored rows as a readable list, each creator's reasons on a line of their own."""
    lines = []
    for row in scored.to_dict(orient="records"):
        roi = "?" if pd.isna(row["expected_roi"]) else f"{row['expected_roi']:.2f}"
        lines.append(
            f"{row['rank']:>3}. {row['creator_id']} ({row['tier']}, {row.get('niche', '')}): "
            f"ROI {roi}, lift {usd(row['expected_lift_usd'])} "
            f"[{usd(row['lift_low_usd'])}, {usd(row['lift_high_usd'])}] for {usd(row['cost_usd'])}"
            + (f"  flags: {row['flags']}" if row["flags"] else "")
        )
        lines.append(f"       {row['reasons']}")
    return "\n".join(lines)


def plan_lines(summary: Mapping[str, Any]) -> list[str]:
    """A plan's summary (planning.Plan.summary) as lines for people, after its headline."""
    roi = summary["expected_roi"]
    low, high = summary["largest_creators_interval_usd"]
    return [
        f"  cost {usd(summary['total_cost_usd'])} of {usd(summary['budget_usd'])}; "
        f"expected lift {usd(summary['expected_lift_usd'])} "
        f"[{usd(summary['lift_low_usd'])}, {usd(summary['lift_high_usd'])}], "
        f"ROI {'n/a' if roi is None else f'{roi:.2f}'}, "
        f"optimality gap <= {summary['optimality_gap']:.4%}",
        f"  the same budget on the {summary['largest_creators_count']} largest creators: "
        f"expected lift {usd(summary['largest_creators_expected_lift_usd'])} "
        f"[{usd(low)}, {usd(high)}]",
        f"  left out: {left_out_text(summary['left_out']) or 'none'}",
    ]


def left_out_text(left_out: Mapping[str, int]) -> str:
    """How many candidates each rule left out: '2,483 flagged suspect_followers, ...'."""
    return ", ".join(f"{n:,} {reason}" for reason, n in left_out.items())
