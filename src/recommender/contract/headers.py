"""Headers as platforms and spreadsheets export them, read as the contract's columns.

`HEADER_SYNONYMS` is the one table of display headers that mean a contract column
("Avg. Likes" -> avg_likes). Headers are compared by `header_key`: lower case,
letters and digits only, a bracketed currency dropped ("Price (USD)" is "price").
To accept another export, add its spelling to the list of the column it means.
`contract_headers` renames a frame's columns by it; an unknown header passes
through untouched; two headers meaning one column is an error. `header_row`
finds the header below the title rows an export may put above it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from recommender.errors import ContractError

_CREATOR_ID = (
    "username",
    "user name",
    "handle",
    "account",
    "account handle",
    "creator",
    "creator id",
    "influencer",
    "influencer id",
    "profile",
    "user",
    "channel",
)
_CAMPAIGN_ID = ("campaign", "campaign id", "campaign name")

# Contract column -> the display headers that mean it, per table. Matching ignores case,
# spaces and punctuation, so "Avg Likes", "avg. likes" and "AVG_LIKES" are one entry.
HEADER_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "creators": {
        "creator_id": _CREATOR_ID,
        "campaign_id": _CAMPAIGN_ID,  # a candidate list naming each row's campaign
        "platform": ("network", "social network", "social platform"),
        "followers": ("follower count", "followers count", "subscribers", "audience size"),
        "following": ("following count", "follows"),
        "avg_likes": ("avg likes", "average likes", "likes per post", "mean likes"),
        "avg_comments": ("avg comments", "average comments", "comments per post"),
        "avg_views": ("avg views", "average views", "views per post", "avg video views"),
        "niche": ("category", "primary category", "main category", "topic", "vertical"),
        "secondary_niches": (
            "secondary niches",
            "categories",
            "other categories",
            "secondary categories",
            "topics",
        ),
        "recent_posts": ("posts (90d)", "posts 90d", "recent posts", "posts last 90 days"),
        "recent_sponsored_posts": (
            "sponsored posts",
            "sponsored posts (90d)",
            "ads",
            "paid posts",
            "branded posts",
        ),
        "audience_country": (
            "country",
            "audience country",
            "top country",
            "top audience country",
        ),
        "audience_age_median": ("audience age", "median audience age", "audience median age"),
        "audience_female_share": (
            "female %",
            "% female",
            "female share",
            "audience female share",
            "audience female %",
        ),
        "follower_growth_30d": (
            "growth",
            "follower growth",
            "follower growth (30d)",
            "30d growth",
            "growth 30d",
        ),
        "price_per_post_usd": (
            "price",
            "rate",
            "price per post",
            "rate per post",
            "cost per post",
            "fee",
        ),
    },
    "campaigns": {
        "campaign_id": _CAMPAIGN_ID,
        "start_date": ("start date", "start", "launch date", "campaign start"),  # held out last
        "niche": ("category", "product category", "vertical"),
        "objective": ("goal", "campaign objective"),
        "brand": ("advertiser", "brand name"),
        "budget_usd": ("budget", "campaign budget"),
        "platform": ("network", "social network"),
        "target_country": ("country", "market", "target market"),
        "target_age_min": ("min age", "minimum age", "age min"),
        "target_age_max": ("max age", "maximum age", "age max"),
        "target_female_share": ("female %", "target female %", "female share"),
        "product_price_usd": ("product price", "price"),
    },
    "outcomes": {
        "campaign_id": _CAMPAIGN_ID,
        "creator_id": _CREATOR_ID,
        "sales_lift_usd": ("sales lift", "lift", "incremental sales", "incremental revenue"),
        "cost_usd": ("cost", "spend", "paid", "fee"),
        "fit_rating": ("rating", "fit", "brand rating"),
        "impressions": ("impression", "reach"),
        "engagements": ("engagement",),
        "clicks": ("click",),
        "conversions": ("conversion", "orders"),
    },
}

_CURRENCY_IN_BRACKETS = re.compile(r"[(\[]\s*(usd|us\$|\$)\s*[)\]]", re.IGNORECASE)


# Other currencies' symbols are kept as words: "Price (€)" is not price_per_post_usd.
_OTHER_CURRENCIES = {"€": "eur", "£": "gbp", "¥": "jpy", "₹": "inr", "₩": "krw", "₽": "rub"}


def header_key(header: object) -> str:
    """How a header is compared: lower case, letters and digits only, no bracketed dollars."""
    return _key_of(str(header))


@functools.lru_cache(maxsize=4096)  # every request reads the same few dozen spellings
def _key_of(header: str) -> str:
    text = _CURRENCY_IN_BRACKETS.sub("", header.lower())
    for symbol, code in _OTHER_CURRENCIES.items():
        text = text.replace(symbol, code)
    return re.sub(r"[\W_]+", "", text)


def _keys(table: str) -> dict[str, str]:
    """header key -> contract column, for one table (a column's own name included)."""
    keys: dict[str, str] = {}
    for column, synonyms in HEADER_SYNONYMS[table].items():
        for spelling in (column, *synonyms):
            keys[header_key(spelling)] = column
    return keys


@dataclass(frozen=True)
class HeaderMatch:
    """The renames made ((header as given, contract column), ...) and the renamed frame."""

    frame: pd.DataFrame
    renamed: tuple[tuple[str, str], ...]


def contract_headers(
    frame: pd.DataFrame, table: str, columns: Iterable[str] = (), source: str | None = None
) -> HeaderMatch:
    """`frame` with each header that means a contract column of `table` renamed to it.

    `columns` are the contract's columns for the table (those given exactly always
    match themselves). Raises ContractError when two headers mean the same column.
    """
    if isinstance(frame.columns, pd.MultiIndex):
        raise ContractError(f"{source or 'the table'}: has more than one header row; keep one")
    if not all(isinstance(c, str) for c in frame.columns):  # a frame built in Python: 0, 1...
        frame = frame.rename(columns=str)
    keys = {**_keys(table), **{header_key(c): c for c in columns}}
    meant: dict[str, list[str]] = {}
    for header in frame.columns:
        column = keys.get(header_key(header))
        if column is not None:
            meant.setdefault(column, []).append(str(header))
    for column, headers in meant.items():
        if len(headers) > 1:
            where = f"{source}: " if source else ""
            both = " and ".join(repr(h) for h in headers)
            raise ContractError(f"{where}columns {both} both mean {column}; keep one")
    renames = {headers[0]: column for column, headers in meant.items() if headers[0] != column}
    if not renames:
        return HeaderMatch(frame, ())
    return HeaderMatch(frame.rename(columns=renames), tuple(renames.items()))


def misspelt_column(
    headers: Iterable[object], table: str, columns: Iterable[str]
) -> tuple[str, str] | None:
    """(header, column) for the first header that is no column of `table` but nearly spells
    one the headers lack (`target_county` beside no target_country), else None. A table's
    own extra columns are kept by the contract; one this close to a contract column is
    taken for a typo, since the column it meant would otherwise be silently missing."""
    import difflib

    given = [str(h) for h in headers]
    try:
        read_as = contract_headers(pd.DataFrame(columns=given), table, columns).frame.columns
    except ContractError:  # two headers for one column: validation says so
        return None
    known = set(columns) | set(HEADER_SYNONYMS.get(table, {}))
    spellings = {
        header_key(spelling): column
        for column in known.difference(read_as)
        for spelling in (column, *HEADER_SYNONYMS.get(table, {}).get(column, ()))
    }
    for header, name in zip(given, read_as, strict=True):
        if name in known:
            continue
        meant = difflib.get_close_matches(header_key(header), spellings, n=1, cutoff=0.8)
        if meant:
            return header, spellings[meant[0]]
    return None


def misspelt_text(table: str, column: str) -> str:
    """What to say of a header that misspells `table`'s `column` (see misspelt_column)."""
    return (
        f"not a {table} column (did you mean {column}? a column of the table's own is "
        "kept, but one this close to a contract column is taken for a typo)"
    )


def renamed_text(renamed: Iterable[tuple[str, str]]) -> str:
    """The renames as people read them: "'Avg. Likes' -> avg_likes, ..."."""
    return ", ".join(f"{header!r} -> {column}" for header, column in renamed)


# --- where the header is ----------------------------------------------------------------

HEADER_SEARCH_ROWS = 20  # title rows an export may put above its header, and more


@functools.lru_cache(maxsize=1)
def _any_table_keys() -> frozenset[str]:
    return frozenset(key for table in HEADER_SYNONYMS for key in _keys(table))


def known_headers(row: Iterable[object]) -> int:
    """How many of a row's cells name a contract column of some table (as `header_key`
    compares them, synonyms included)."""
    keys = _any_table_keys()
    return len({key for cell in row if cell is not None and (key := header_key(cell)) in keys})


def header_row(rows: Sequence[Sequence[object]]) -> int | None:
    """Which of a table's first rows reads as its header, below any title rows ("Creators
    export", "March 2025", a blank line): the one naming the most contract columns (the
    first of equals), if it names two or more; None if none does."""
    counts = [known_headers(row) for row in rows[:HEADER_SEARCH_ROWS]]
    if not counts or max(counts) < 2:
        return None
    return counts.index(max(counts))


# --- cells ---------------------------------------------------------------------------


# --- numbers as people write them -------------------------------------------------------
