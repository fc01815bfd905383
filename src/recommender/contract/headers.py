"""Tables as platforms and spreadsheets export them: header synonyms and numbers as people
write them.

`HEADER_SYNONYMS` is the one table of display headers that mean a contract column
("Avg. Likes" -> avg_likes). Headers are compared by `header_key`: lower case,
letters and digits only, a bracketed currency dropped ("Price (USD)" is "price").
To accept another export, add its spelling to the list of the column it means.
`contract_headers` renames a frame's columns by it; an unknown header passes
through untouched; two headers meaning one column is an error. `header_row`
finds the header below the title rows an export may put above it.

`read_numbers` reads numeric cells written for people: thousands separators
("3,400", "1 200"), K/M/B suffixes ("12.5K"), percents where the column is a
share ("62.5%" is 0.625) and dollar amounts where it is money ("$1,250.00").
A cell it cannot read as meant comes back NaN, for validation to reject with
its reason; it never guesses ("12,5" is neither 12.5 nor 125). `EXCEL_ERRORS`
are what a spreadsheet shows where a formula failed (#DIV/0!), to reject as such.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
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

# What pandas infers for a column of single values: no cell to look at one by one.
_SINGLE_VALUE_KINDS = {
    "string", "empty", "integer", "floating", "mixed-integer-float", "boolean", "decimal",
    "datetime", "datetime64", "date", "time", "timedelta", "timedelta64", "period",
}  # fmt: skip
_NESTED = (list, tuple, dict, set, np.ndarray)


def nested_cells(values: pd.Series) -> np.ndarray:
    """Which cells hold a list, a mapping or an array (JSON and Parquet allow them)."""
    # (infer_dtype reads a Series' cells as it reads the array's, at a quarter of the cost)
    if values.dtype != object or pd.api.types.infer_dtype(values.to_numpy(), skipna=True) in (
        _SINGLE_VALUE_KINDS
    ):
        return np.zeros(len(values), dtype=bool)
    return values.map(lambda v: isinstance(v, _NESTED)).to_numpy(dtype=bool)


# --- numbers as people write them -------------------------------------------------------

# What a spreadsheet shows in a cell whose formula failed; Excel writes it in its CSVs too.
EXCEL_ERRORS = frozenset({
    "#DIV/0!", "#N/A", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!",
    "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!", "#GETTING_DATA",
})  # fmt: skip

_SUFFIXES: Mapping[str, int] = {"k": 3, "m": 6, "b": 9}  # powers of ten
# How exports write a number nobody knows (lower case): read as an empty cell.
UNKNOWN_NUMBER = frozenset({"-", "--", "\u2013", "\u2014", "n/a", "na", "null", "none", "?"})
_NUMBER = re.compile(
    r"""^\s*(?P<open>\()?\s*
    (?P<sign>[-+\u2212])?\s*
    (?P<currency>US\$|\$|USD)?\s*
    (?P<sign2>[-+\u2212])?\s*
    (?P<whole>[1-9][0-9]{0,2}(?:(?P<sep>[,\u00a0\u202f '])[0-9]{3})(?:(?P=sep)[0-9]{3})*|[0-9]*)
    (?:\.(?P<fraction>[0-9]+))?
    \s*(?P<suffix>[kKmMbB])?
    \s*(?P<percent>%)?
    \s*(?P<currency2>USD|\$)?
    \s*(?P<close>\))?\s*$""",
    re.VERBOSE,
)


# A decimal separator is one followed by one or two digits and no more: "12,5", "1.250,50",
# "62,5 %" show decimal commas; "12.5", "$1,250.00" decimal points. "3,400" shows neither.
_DECIMAL_COMMA = r".*[0-9],[0-9]{1,2}(?:[^0-9].*)?"
_DECIMAL_POINT = r".*[0-9]\.[0-9]{1,2}(?:[^0-9].*)?"
_COMMA_THREE = r".*[0-9],[0-9]{3}(?:[^0-9].*)?"  # 3,400: thousands, or 3.4 in Europe


def decimal_points(text: pd.Series) -> pd.Series:
    """A column of numbers as text, in decimal points: when cells show decimal commas and
    none a decimal point (a European export: 12,5 and 1.250,50), and no more cells read as
    comma thousands (3,400), its dots are thousands and its commas decimals: 1.250,50
    becomes 1250.50 and 3,400 becomes 3.400. Any other column comes back as it is."""
    commas = int(text.str.fullmatch(_DECIMAL_COMMA).fillna(False).sum())
    points = int(text.str.fullmatch(_DECIMAL_POINT).fillna(False).sum())
    # One stray "1,25" among many "3,400" is a typo to reject, not a convention to adopt.
    threes = int(text.str.fullmatch(_COMMA_THREE).fillna(False).sum())
    if not commas or points or threes >= commas:
        return text
    no_thousands = text.str.replace(
        r"(?<=[0-9])[.\u00a0\u202f ](?=[0-9]{3}(?![0-9]))", "", regex=True
    )
    # A dot left over was no thousands separator (1.2345): not a number in this convention.
    stray_dot = no_thousands.str.contains(".", regex=False).fillna(False)
    return no_thousands.str.replace(",", ".", regex=False).mask(stray_dot, "not a number")


def read_numbers(text: pd.Series, *, percent: bool = False, money: bool = False) -> np.ndarray:
    """Each cell of `text` as a float, read as people write numbers; NaN where it is not one.

    percent: the column is a share, so "62.5%" means 0.625. money: the column is in
    US dollars, so "$1,250.00", "USD 1250" and "(1,250)" (a loss) are read.
    """
    parts = text.astype("string").str.extract(_NUMBER)
    values = np.full(len(text), np.nan)
    ok = parts["whole"].fillna("").str.len().gt(0) | parts["fraction"].notna()
    ok &= parts["open"].isna() == parts["close"].isna()
    ok &= parts["sign"].isna() | parts["sign2"].isna()
    has_currency = parts["currency"].notna() | parts["currency2"].notna()
    ok &= ~has_currency if not money else ~(parts["currency"].notna() & parts["currency2"].notna())
    ok &= parts["percent"].isna() if not percent else parts["suffix"].isna()
    rows = np.flatnonzero(ok.to_numpy(dtype=bool))
    if rows.size == 0:
        return values
    chosen = parts.iloc[rows]
    whole = chosen["whole"].fillna("").str.replace(r"[^0-9]", "", regex=True)
    fraction = chosen["fraction"].fillna("")
    digits = whole.where(whole != "", "0") + "." + fraction.where(fraction != "", "0")
    shift = chosen["suffix"].str.lower().map(_SUFFIXES).fillna(0).to_numpy(dtype=int) - np.where(
        chosen["percent"].notna(), 2, 0
    )
    negative = chosen["sign"].fillna(chosen["sign2"]).isin(["-", "\u2212"]) | chosen["open"].notna()
    number = digits.astype(float).to_numpy(dtype=float) * 10.0**shift
    # 1.1K is 1100, not 1100.0000000000002: keep the decimals the writer gave, no more.
    decimals = np.maximum(fraction.str.len().to_numpy(dtype=int) - shift, 0)
    for places in np.unique(decimals):
        number[decimals == places] = np.round(number[decimals == places], places)
    values[rows] = np.where(negative.to_numpy(dtype=bool), -number, number)
    return values
