"""The data contract's tables, defined once: each a tuple of `Column` specs with its key
and cross-column rules; the follower tiers; and the scored output's columns.

`contract.validation.validate` enforces them; `contract.pairs` joins them into
the pair frame the models read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pandas as pd

REJECT_REASON = "reject_reason"
DUPLICATE = "duplicate of an earlier row"
MAX_PEOPLE = 1e10  # more followers, likes or views than there are people is a typo
# No column of the contract means a number this large; it also keeps every whole number
# exact as a float (2**53 is 9e15), so 9007199254740993 is refused, not rounded.
MAX_MAGNITUDE = 1e12
PLATFORMS = ("instagram", "tiktok", "youtube")
OBJECTIVES = ("sales", "awareness", "content")
DEFAULT_OBJECTIVE = "sales"
LIST_SEPARATOR = ";"

# Follower tiers, as the industry names them. Lower bounds, inclusive.
TIER_BOUNDS: tuple[tuple[str, float], ...] = (
    ("nano", 0.0),  # accounts under 1k are counted as nano: too small for their own tier
    ("micro", 10_000.0),
    ("mid", 100_000.0),
    ("macro", 500_000.0),
    ("mega", 1_000_000.0),
)
TIERS = tuple(name for name, _ in TIER_BOUNDS)


class Kind(Enum):
    """How a column's cells are read."""

    STRING = "string"  # free text, stripped
    LOWER = "lower"  # free text, stripped and lower-cased (niches, platforms, objectives)
    LIST = "list"  # ';'-separated lower-cased items
    COUNTRY = "country"  # ISO-3166 alpha-2, upper-cased
    INT = "int"
    FLOAT = "float"


@dataclass(frozen=True)
class Column:
    """One column of a table: its kind, whether it is required, and its limits."""

    name: str
    kind: Kind
    required: bool = False
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    choices: tuple[str, ...] = ()
    default: str | None = None  # value used when an optional column is empty
    share: bool = False  # a fraction, which people may write as a percent (62.5%)
    money: bool = False  # US dollars, which people may write with a $ and separators

    @property
    def numeric(self) -> bool:
        """Whether the column holds numbers."""
        return self.kind in (Kind.INT, Kind.FLOAT)


@dataclass(frozen=True)
class Table:
    """A table of the contract: its columns, its key, and cross-column rules."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # (column, column) pairs where the first must not exceed the second.
    not_above: tuple[tuple[str, str], ...] = field(default=())

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the required columns."""
        return tuple(c.name for c in self.columns if c.required)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of every column, in contract order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """The column called `name` (KeyError if the table has none)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


CREATORS = Table(
    name="creators",
    key=("creator_id",),
    columns=(
        Column("creator_id", Kind.STRING, required=True),
        Column("platform", Kind.LOWER, required=True, choices=PLATFORMS),
        Column("followers", Kind.INT, required=True, min=0, max=MAX_PEOPLE),
        Column("avg_likes", Kind.FLOAT, required=True, min=0, max=MAX_PEOPLE),
        Column("avg_comments", Kind.FLOAT, required=True, min=0, max=MAX_PEOPLE),
        Column("niche", Kind.LOWER, required=True),
        Column("secondary_niches", Kind.LIST),
        Column("following", Kind.INT, min=0, max=MAX_PEOPLE),
        Column("avg_views", Kind.FLOAT, min=0, max=MAX_PEOPLE),
        Column("recent_posts", Kind.INT, min=0),
        Column("recent_sponsored_posts", Kind.INT, min=0),
        Column("audience_country", Kind.COUNTRY),
        Column("audience_age_median", Kind.FLOAT, min=0, max=120),
        Column("audience_female_share", Kind.FLOAT, min=0, max=1, share=True),
        Column("follower_growth_30d", Kind.FLOAT, min=-1, share=True),
        Column("price_per_post_usd", Kind.FLOAT, min=0, money=True),
    ),
    not_above=(("recent_sponsored_posts", "recent_posts"),),
)

CAMPAIGNS = Table(
    name="campaigns",
    key=("campaign_id",),
    columns=(
        Column("campaign_id", Kind.STRING, required=True),
        Column("niche", Kind.LOWER, required=True),
        Column("objective", Kind.LOWER, choices=OBJECTIVES, default=DEFAULT_OBJECTIVE),
        Column("brand", Kind.STRING),
        Column("budget_usd", Kind.FLOAT, min=0, min_exclusive=True, money=True),
        Column("platform", Kind.LOWER, choices=PLATFORMS),
        Column("target_country", Kind.COUNTRY),
        Column("target_age_min", Kind.FLOAT, min=0, max=120),
        Column("target_age_max", Kind.FLOAT, min=0, max=120),
        Column("target_female_share", Kind.FLOAT, min=0, max=1, share=True),
        Column("product_price_usd", Kind.FLOAT, min=0, min_exclusive=True, money=True),
    ),
    not_above=(("target_age_min", "target_age_max"),),
)

OUTCOMES = Table(
    name="outcomes",
    key=("campaign_id", "creator_id"),
    columns=(
        Column("campaign_id", Kind.STRING, required=True),
        Column("creator_id", Kind.STRING, required=True),
        Column("sales_lift_usd", Kind.FLOAT, required=True, money=True),
        Column("cost_usd", Kind.FLOAT, min=0, money=True),
        Column("fit_rating", Kind.INT, min=0, max=4),
        Column("impressions", Kind.INT, min=0),
        Column("engagements", Kind.INT, min=0),
        Column("clicks", Kind.INT, min=0),
        Column("conversions", Kind.INT, min=0),
        # How the hire was chosen, as plan.csv states it: the probability with which the
        # plan chose this creator, the policy that chose it, the list it was chosen from.
        Column("selection_probability", Kind.FLOAT, min=0, min_exclusive=True, max=1, share=True),
        Column("policy", Kind.STRING),
        Column("shortlist_id", Kind.STRING),
    ),
)

TABLES = {t.name: t for t in (CREATORS, CAMPAIGNS, OUTCOMES)}
# What a hire brought: every outcomes column but its key.
OUTCOME_COLUMNS = tuple(c.name for c in OUTCOMES.columns if c.name not in OUTCOMES.key)


# A campaign's columns in a pair frame: campaign_niche, campaign_target_country...
CAMPAIGN_PREFIX = "campaign_"
# The scored output, in order; the input's own columns follow.
SCORED_COLUMNS = (
    "campaign_id", "creator_id", "rank", "score", "fit_score", "expected_lift_usd",
    "lift_low_usd", "lift_high_usd", "cost_usd", "expected_roi", "tier", "flags", "reasons",
)  # fmt: skip
# The words the package writes about each row. They begin with "+ " or "- " by design
# (a spreadsheet may show such a cell as #NAME?, but the text after is the package's and
# parses as no formula), so CSV writers leave them as they are (write_table's `own_words`).
EXPLANATION_COLUMNS = ("flags", "reasons")
# The columns that name a creator or a campaign: files are joined on them, so CSV writers
# keep an id such as "@handle" as given (io's formula guard leaves plain ids alone).
KEY_COLUMNS = tuple(dict.fromkeys(key for table in TABLES.values() for key in table.key))
# What the models predict for a pair: the scored columns that need no ranking or words.
PREDICTION_COLUMNS = tuple(c for c in SCORED_COLUMNS if c not in ("rank", *EXPLANATION_COLUMNS))


def tier_of(followers: pd.Series | np.ndarray) -> np.ndarray:
    """Tier name for each follower count (nano, micro, mid, macro, mega)."""
    values = np.asarray(followers, dtype=float)
    bounds = np.array([b for _, b in TIER_BOUNDS[1:]])
    idx = np.searchsorted(bounds, np.nan_to_num(values, nan=0.0), side="right")
    return np.asarray(np.asarray(TIERS, dtype=object)[idx])
