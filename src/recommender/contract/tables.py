"""The data contract, defined once, and the validation that enforces it.

Every table is a tuple of `Column` specs. `validate` splits a raw frame into the
rows that meet the contract (typed, normalised) and the rows that do not (their
original values plus a `reject_reason` naming each failing column and problem).

The *pair frame* is the contract between the tables and the models: one row
per (campaign, creator), the creator's columns as they are and the campaign's
under a `campaign_` prefix (`pair_frame`, `attach_campaigns`, `cross_pairs`
build it). The scored output's columns are defined here too.

Validation is written as vectorised pandas/numpy/Arrow checks rather than with a
schema library: it must produce one human-readable reason per bad row, keep the
original values of that row, and validate a million rows in a few seconds.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Hashable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recommender.contract import headers
from recommender.errors import ContractError

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
    ),
)

TABLES = {t.name: t for t in (CREATORS, CAMPAIGNS, OUTCOMES)}
# What a hire brought: every outcomes column but its key.
OUTCOME_COLUMNS = tuple(c.name for c in OUTCOMES.columns if c.name not in OUTCOMES.key)

# --- the pair frame and the scored output -----------------------------------------

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


def pair_columns() -> list[tuple[str, bool, bool]]:
    """(name, numeric, required) of every contract column a pair frame can hold."""
    columns = [("campaign_id", False, True)]
    columns += [(c.name, c.numeric, c.required) for c in CREATORS.columns]
    columns += [
        (f"{CAMPAIGN_PREFIX}{c.name}", c.numeric, c.required)
        for c in CAMPAIGNS.columns
        if c.name != "campaign_id"
    ]
    return columns


def require_pair_frame(X: object, who: str) -> pd.DataFrame:
    """X, when it is a DataFrame: what reads a pair frame reads its columns by name."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"{who} takes a pair frame (a pandas DataFrame with the contract's columns), "
            f"not {type(X).__name__}"
        )
    return X


def pair_frame(
    creators: pd.DataFrame, campaigns: pd.DataFrame, pairs: pd.DataFrame
) -> pd.DataFrame:
    """Rows of `pairs` (campaign_id, creator_id, any outcome columns) joined with both tables.

    Campaign columns other than campaign_id come prefixed with `campaign_`. A pair's
    creator_id comes spelled as `creators` spells the account (an outcome of '@Handle'
    is creator 'handle's, see `account`).
    """
    ids = pairs["creator_id"]
    unmatched = ~ids.isin(creators["creator_id"]).to_numpy(dtype=bool)
    if unmatched.any():
        pairs = pairs.assign(creator_id=_spelled_as(ids, unmatched, creators["creator_id"]))
    return _joined_pairs(creators, campaigns, pairs)


def _spelled_as(ids: pd.Series, unmatched: np.ndarray, spellings: pd.Series) -> pd.Series:
    """`ids`, those `unmatched` spelled as the first of `spellings` that names the same
    account (left as they are where none does)."""
    named = pd.Series(spellings.to_numpy(), index=account(spellings).to_numpy())
    named = named[~named.index.duplicated()]
    found = account(ids[unmatched]).map(named)
    spelled = ids.copy()
    spelled[unmatched] = found.where(found.notna(), ids[unmatched]).to_numpy()
    return spelled


def _joined_pairs(
    creators: pd.DataFrame, campaigns: pd.DataFrame, pairs: pd.DataFrame
) -> pd.DataFrame:
    """pair_frame of pairs that name each creator as `creators` spells it."""
    creator_cols = [c for c in creators.columns if c not in pairs.columns or c == "creator_id"]
    out = pairs.merge(creators[creator_cols], on="creator_id", how="left", validate="many_to_one")
    return attach_campaigns(out, campaigns)


def attach_campaigns(rows: pd.DataFrame, campaigns: pd.DataFrame) -> pd.DataFrame:
    """Rows with a campaign_id, joined with their campaign's columns (prefixed `campaign_`)."""
    prefixed = campaigns.rename(
        columns={c: f"{CAMPAIGN_PREFIX}{c}" for c in campaigns.columns if c != "campaign_id"}
    )
    return rows.merge(prefixed, on="campaign_id", how="left", validate="many_to_one")


def cross_pairs(creators: pd.DataFrame, campaigns: pd.DataFrame) -> pd.DataFrame:
    """Every creator for every campaign, as a pair frame."""
    if _one_campaign_to_repeat(creators, campaigns):
        return _with_the_campaign(creators, campaigns)
    ids = pd.MultiIndex.from_product(
        [campaigns["campaign_id"], creators["creator_id"]], names=["campaign_id", "creator_id"]
    ).to_frame(index=False)
    return _joined_pairs(creators, campaigns, ids)


def _one_campaign_to_repeat(creators: pd.DataFrame, campaigns: pd.DataFrame) -> bool:
    """Whether the pair frame of `creators` and `campaigns` is the creators as they are
    beside the one campaign's row repeated: pair_frame's joins would find each creator
    once and add no row, change no type and rename no column (text ids, none missing,
    no creator twice, no name in both)."""
    if len(campaigns) != 1 or "campaign_id" in creators.columns:
        return False
    creator_ids, campaign_ids = creators["creator_id"], campaigns["campaign_id"]
    if not isinstance(creator_ids.dtype, pd.StringDtype) or not isinstance(
        campaign_ids.dtype, pd.StringDtype
    ):
        return False
    prefixed = {f"{CAMPAIGN_PREFIX}{c}" for c in campaigns.columns}
    return (
        not creators.attrs
        and not campaigns.attrs
        and creators.columns.is_unique
        and campaigns.columns.is_unique
        and prefixed.isdisjoint(creators.columns)
        and not campaign_ids.hasnans
        and not creator_ids.hasnans
        and creator_ids.is_unique
    )


def _with_the_campaign(creators: pd.DataFrame, campaigns: pd.DataFrame) -> pd.DataFrame:
    """cross_pairs for one campaign (see _one_campaign_to_repeat), without the joins: for a
    short list of creators they cost more than everything else in pairing them."""
    if not _numbered(creators.index):
        creators = creators.reset_index(drop=True)
    # The campaign's row repeated, taken at once (not column by column), on the creators' index.
    repeated = campaigns.iloc[np.zeros(len(creators), dtype=np.intp)]
    repeated.index = creators.index
    campaign = dict(repeated.items())
    columns: dict[Hashable, pd.Series] = {"campaign_id": campaign.pop("campaign_id")}
    columns.update(creators.items())
    columns.update((f"{CAMPAIGN_PREFIX}{c}", values) for c, values in campaign.items())
    return pd.DataFrame(columns, index=creators.index, copy=False)  # (aligned: no reindexing)


def _numbered(index: pd.Index) -> bool:
    """Whether `index` is what reset_index(drop=True) gives: 0, 1, 2... as a RangeIndex."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def campaign_column(pairs: pd.DataFrame, name: str, default: object = pd.NA) -> pd.Series:
    """A campaign's column in a pair frame (`default` everywhere when it is absent)."""
    column = f"{CAMPAIGN_PREFIX}{name}"
    if column in pairs.columns:
        return pairs[column]
    return pd.Series(default, index=pairs.index, dtype=object)


def objectives(pairs: pd.DataFrame) -> np.ndarray:
    """Each pair's campaign objective, lower case, the default where none is given."""
    given = campaign_column(pairs, "objective").astype("string").str.lower()
    return given.fillna(DEFAULT_OBJECTIVE).to_numpy(dtype=object)


@dataclass(frozen=True)
class Validated:
    """The two halves of a validated table: every input row is in exactly one."""

    valid: pd.DataFrame
    rejects: pd.DataFrame
    # Headers read as contract columns: (header as given, column), as headers.contract_headers.
    renamed: tuple[tuple[str, str], ...] = ()

    @property
    def counts(self) -> tuple[int, int]:
        """(valid rows, rejected rows)."""
        return len(self.valid), len(self.rejects)


def tier_of(followers: pd.Series | np.ndarray) -> np.ndarray:
    """Tier name for each follower count (nano, micro, mid, macro, mega)."""
    values = np.asarray(followers, dtype=float)
    bounds = np.array([b for _, b in TIER_BOUNDS[1:]])
    idx = np.searchsorted(bounds, np.nan_to_num(values, nan=0.0), side="right")
    return np.asarray(np.asarray(TIERS, dtype=object)[idx])


def missing_columns(frame: pd.DataFrame, table: Table) -> list[str]:
    """The required columns of `table` that `frame` lacks."""
    return [c for c in table.required if c not in frame.columns]


def check_columns(frame: pd.DataFrame, table: Table, source: str | None = None) -> None:
    """Raise ContractError when a required column of `table` is absent."""
    missing = missing_columns(frame, table)
    if missing:
        where = f"{source}: " if source else ""
        hint = next(
            (f" (is the file delimited by {d!r}? a header reads {h!r})"
             for h in map(str, frame.columns) for d in (";", "\t", "|", ",") if d in h),
            "",
        )  # fmt: skip
        raise ContractError(
            f"{where}missing required {table.name} column(s): {', '.join(missing)}{hint}"
        )


class _Reasons:
    """Collects per-row problems; only bad rows ever get a string, so it stays cheap."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self._text: dict[int, list[str]] = {}

    def add(self, mask: np.ndarray, column: str, problem: str, values: pd.Series | None) -> None:
        """Note `problem` on the rows of `mask`, quoting each row's value from `values`."""
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return
        self.bad[rows] = True
        if values is None:
            texts = [f"{column}: {problem}"] * rows.size
        else:
            texts = [f"{column}: {problem} (got {_show(v)})" for v in values.iloc[rows].tolist()]
        for r, text in zip(rows.tolist(), texts, strict=True):
            self._text.setdefault(r, []).append(text)

    def add_each(self, rows: np.ndarray, column: str, problems: list[str]) -> None:
        """Note on each of `rows` a problem of its own (problems[i] on rows[i])."""
        self.bad[rows] = True
        for r, problem in zip(rows.tolist(), problems, strict=True):
            self._text.setdefault(r, []).append(f"{column}: {problem}")

    def strings(self) -> list[str]:
        """One reason per bad row, in row order: its problems joined by '; '."""
        return ["; ".join(self._text[r]) for r in np.flatnonzero(self.bad).tolist()]


def _show(value: object) -> str:
    text = str(value)
    return repr(text[:40] + "…") if len(text) > 40 else repr(text)


def _is_empty(raw: pd.Series, text: pa.ChunkedArray | None = None) -> np.ndarray:
    """Missing: NaN/None, or text that is blank once stripped (`text`: raw as _stripped
    reads it, when already read)."""
    empty = _missing(raw)
    if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
        empty |= _blank(_stripped(raw) if text is None else text)
    return empty


def _missing(raw: pd.Series) -> np.ndarray:
    """raw.isna() as a writable array (an object column's straight from its cells: cheaper)."""
    if raw.dtype == object:
        return np.asarray(pd.isna(raw.to_numpy()), dtype=bool)
    return np.array(raw.isna().to_numpy(), dtype=bool)


def _stripped(raw: pd.Series) -> pa.ChunkedArray:
    """Each cell as `raw.astype("string").str.strip()` reads it, as Arrow text (null where
    missing): one conversion a column, which every check of its text then shares."""
    cells = raw.to_numpy() if raw.dtype == object else None
    text: pa.Array | pa.ChunkedArray | None = None
    if cells is not None and pd.api.types.infer_dtype(cells, skipna=True) in ("string", "empty"):
        # Text already: the very call astype("string") ends in, without its fixed cost
        # (most of the time of a small frame). Cells Arrow refuses take the long way.
        try:
            text = pa.array(cells, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            text = None
    if text is None:
        text = pa.array(raw.astype("string").array)
    if isinstance(text, pa.Array):
        text = pa.chunked_array([text])
    return pc.utf8_trim_whitespace(text)


def _blank(text: pa.ChunkedArray) -> np.ndarray:
    """Which cells of stripped text are empty or missing."""
    lengths = pc.binary_length(text).to_numpy(zero_copy_only=False)  # NaN where missing
    return np.asarray(~(lengths > 0), dtype=bool)


def _masked(text: pa.ChunkedArray, mask: np.ndarray) -> pa.ChunkedArray:
    """text, missing where `mask` is set."""
    if not mask.any():
        return text
    return pc.if_else(pa.array(mask), pa.scalar(None, type=text.type), text)


def _as_series(text: pa.ChunkedArray, like: pd.Series) -> pd.Series:
    """Arrow text as the pandas "string" column `like.astype("string")` would be."""
    values = pd.array(text, dtype=pd.StringDtype())
    return pd.Series(values, index=like.index, name=like.name, copy=False)


# What pandas infers for an object column of numbers alone (NumPy's included).
_NUMBER_KINDS = ("integer", "floating", "mixed-integer-float", "empty")


def _plain_numbers(raw: pd.Series, col: Column) -> np.ndarray | None:
    """An object column's numbers when every cell is a Python int, a float or missing (as
    JSON clients send them): what their text would parse to, read without the text.

    A float's text (its repr) and an int's digits parse back to float(cell) exactly, so
    only cells whose text would read otherwise take the long way: a count written as a
    fraction (1.125 is 1125 in a whole-number column, see _dots_as_thousands), an
    infinite count, or an int too large for a float. None for any other column.
    """
    if raw.dtype != object:
        return None
    cells = raw.to_numpy()
    if pd.api.types.infer_dtype(cells, skipna=True) not in _NUMBER_KINDS:  # (a quick "no")
        return None
    kinds = set(map(type, cells))
    if not kinds <= {int, float, type(None)}:
        return None
    missing = pd.isna(cells)
    if col.kind == Kind.INT and any(
        type(c) is float and not (c.is_integer() or c != c) for c in cells
    ):  # a fraction or an infinity in a count (NaN is missing, c != c)
        return None
    number = np.full(len(cells), np.nan)
    try:
        number[~missing] = cells[~missing].astype(float)
    except OverflowError:
        return None
    return number


def _numeric(raw: pd.Series, col: Column, text: pa.ChunkedArray | None = None) -> np.ndarray:
    """Each cell of `raw` as a number, NaN where it is none (`text`: raw as _stripped reads it)."""
    if _numbers_already(raw):
        return raw.to_numpy(dtype=float, na_value=np.nan)
    text = _stripped(raw) if text is None else text
    try:  # Arrow parses a clean column many times faster, and refuses if any cell is not a number
        cells = _masked(text, _blank(text))
        number = np.asarray(pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False), float)
        return _dots_as_thousands(cells, number) if col.kind == Kind.INT else number
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # A column written 12,5 and 1.250,50 is read in decimal points first.
        written = headers.decimal_points(_as_series(text, raw))
        number = pd.to_numeric(written, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    # What plain parsing refused may be written for people: 12.5K, 3,400, 62.5%, $1,250.
    rows = np.flatnonzero(np.isnan(number) & (written != "").fillna(False).to_numpy(dtype=bool))
    if rows.size:
        number[rows] = headers.read_numbers(written.iloc[rows], percent=col.share, money=col.money)
    return number


def _dots_as_thousands(cells: pa.ChunkedArray, number: np.ndarray) -> np.ndarray:
    """A count written 2.000 or 12.500 is thousands (nobody counts 2.000 followers as 2):
    such cells of a whole-number column, read again without their dots."""
    if not pc.any(pc.match_substring(cells, ".")).as_py():  # the common case: one cheap pass
        return number
    grouped = pc.match_substring_regex(cells, r"^[+-]?[1-9][0-9]{0,2}(\.[0-9]{3})+$")
    rows = np.flatnonzero(pc.fill_null(grouped, False).to_numpy(zero_copy_only=False))
    if rows.size:
        undotted = pc.replace_substring(cells.take(pa.array(rows)), ".", "")
        number = number.copy()
        number[rows] = np.asarray(pc.cast(undotted, pa.float64()).to_numpy(zero_copy_only=False))
    return number


def _normalised(text: pa.ChunkedArray, kind: Kind) -> pa.ChunkedArray:
    """Stripped text as a column of `kind` holds it: lower or upper case, lists tidied."""
    if kind in (Kind.LOWER, Kind.LIST):
        text = pc.utf8_lower(text)
    if kind == Kind.LIST:
        # Normalise "Pet ; Food;" to "pet;food": niche names match case-insensitively.
        spaced = rf"\s*{LIST_SEPARATOR}\s*"
        text = pc.replace_substring_regex(text, pattern=spaced, replacement=LIST_SEPARATOR)
        text = pc.utf8_trim(text, characters=LIST_SEPARATOR)
    if kind == Kind.COUNTRY:
        text = pc.utf8_upper(text)
    return text


def _text(raw: pd.Series, kind: Kind) -> pd.Series:
    """raw as the text a column of `kind` holds (pandas "string", <NA> where missing)."""
    return _as_series(_normalised(_stripped(raw), kind), raw)


def _check_column(
    raw: pd.Series, col: Column, reasons: _Reasons, reported: np.ndarray | None = None
) -> pd.Series:
    """Check one column; return its typed, normalised values (NaN/<NA> where empty).
    `reported`: cells rejected already for a reason of their own (a NUL character)."""
    nested = headers.nested_cells(raw)
    if col.kind == Kind.LIST and nested.any():
        raw = _lists_joined(raw, nested)
        nested = headers.nested_cells(raw)
    if nested.any():
        reasons.add(nested, col.name, "not a single value", raw)
    if reported is not None:
        nested |= reported
    if nested.any():
        raw = raw.mask(nested)  # reported once: not also as missing or malformed
    numbers = _plain_numbers(raw, col) if col.numeric else None
    text = None
    if numbers is None and not (col.numeric and _numbers_already(raw)):
        text = _stripped(raw)  # read once, shared by every check below
    empty = _missing(raw) if numbers is not None else _is_empty(raw, text)
    if col.required:
        reasons.add(empty & ~nested, col.name, "required value missing", None)
    if col.numeric:
        return _check_number(raw, col, reasons, empty | nested, text, numbers)

    assert text is not None
    shown = _spreadsheet_errors(text, col.name, reasons)
    if shown.any():  # reported as such: not also as a wrong choice or country
        text, empty = _masked(text, shown), empty | shown
    text = _normalised(text, col.kind)
    if col.choices:
        choices = pa.array(col.choices, type=text.type)
        known = pc.fill_null(pc.is_in(text, value_set=choices), False)
        reasons.add(
            ~empty & ~known.to_numpy(), col.name, f"must be one of {', '.join(col.choices)}", raw
        )
    if col.kind == Kind.COUNTRY:
        two_letters = pc.fill_null(pc.match_substring_regex(text, r"^[A-Z]{2}$"), False)
        reasons.add(
            ~empty & ~two_letters.to_numpy(), col.name, "not a two-letter country code", raw
        )
    text = _masked(text, empty)
    if col.default is not None:
        text = pc.fill_null(text, col.default)
    return _as_series(text, raw)


def _spreadsheet_errors(
    text: pa.ChunkedArray, column: str, reasons: _Reasons, rows: np.ndarray | None = None
) -> np.ndarray:
    """Which cells of stripped text (of `rows` only, when given) show a spreadsheet's error
    rather than a value (#DIV/0!, #N/A...): each is rejected as "an Excel error (#DIV/0!)",
    not as missing nor as a value it is not."""
    where = np.arange(len(text)) if rows is None else rows
    cells = text if rows is None else text.take(pa.array(rows))
    found = np.zeros(len(text), dtype=bool)
    if not pc.any(pc.fill_null(pc.starts_with(cells, "#"), False)).as_py():
        return found  # (a first-character test: most columns hold no such cell)
    shown = pc.utf8_upper(cells)
    for error in sorted(headers.EXCEL_ERRORS):
        hit = np.zeros(len(text), dtype=bool)
        equal = pc.fill_null(pc.equal(shown, error), False).to_numpy(zero_copy_only=False)
        hit[where[equal]] = True
        reasons.add(hit, column, f"an Excel error ({error})", None)
        found |= hit
    return found


def _holding_nul(values: pd.Series) -> np.ndarray | None:
    """Which cells are text holding a NUL character (None for a column of no text)."""
    if values.dtype != object and pd.api.types.is_string_dtype(values.dtype):
        with suppress(pa.ArrowInvalid, pa.ArrowTypeError):  # (text Arrow cannot hold: below)
            nul = pc.match_substring(pa.array(values.array), "\x00")
            return np.asarray(pc.fill_null(nul, False).to_numpy(zero_copy_only=False), bool)
    elif values.dtype != object:
        return None
    cells = values.to_numpy(dtype=object)
    return np.fromiter((isinstance(v, str) and "\0" in v for v in cells), bool, len(cells))


def _reject_nul_cells(frame: pd.DataFrame, reasons: _Reasons) -> dict[Hashable, np.ndarray]:
    """Reject the rows holding a NUL character in any column, the contract's or not: no text
    means one (it is a stray byte of a damaged export), and many programs end a text at it.
    Returns the cells found, by column."""
    found = {}
    for name, values in frame.items():
        nul = _holding_nul(values)
        if nul is not None and nul.any():
            reasons.add(nul, str(name), "contains a NUL character", values)
            found[name] = nul
    return found


def _numbers_already(raw: pd.Series) -> bool:
    """Whether raw holds numbers as such (not text, not booleans)."""
    return pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype)


def _lists_joined(raw: pd.Series, nested: np.ndarray) -> pd.Series:
    """A list column's cells given as lists of text (JSON clients send them) joined by ';'."""
    joined = raw.copy()
    for row in np.flatnonzero(nested).tolist():
        cell = raw.iloc[row]
        if isinstance(cell, (list, tuple)) and all(isinstance(item, str) for item in cell):
            joined.iloc[row] = LIST_SEPARATOR.join(cell)
    return joined


def _check_number(
    raw: pd.Series,
    col: Column,
    reasons: _Reasons,
    empty: np.ndarray,
    text: pa.ChunkedArray | None = None,
    numbers: np.ndarray | None = None,
) -> pd.Series:
    """Check a numeric column whose `empty` cells were already dealt with; return its values.
    (`text`: raw as _stripped reads it; `numbers`: raw as _plain_numbers reads it.)"""
    number = _numeric(raw, col, text) if numbers is None else numbers
    unread = np.flatnonzero(~empty & np.isnan(number))
    if unread.size:  # exports write an unknown number as "-", "N/A"...: it is empty
        text = _stripped(raw) if text is None else text
        said = pc.utf8_lower(text.take(pa.array(unread)))
        unknown = pa.array(sorted(headers.UNKNOWN_NUMBER), type=said.type)
        placeholder = np.zeros(len(raw), dtype=bool)
        placeholder[unread] = pc.fill_null(pc.is_in(said, value_set=unknown), False).to_numpy()
        empty = empty | placeholder | _spreadsheet_errors(text, col.name, reasons, unread)
        if col.required:
            reasons.add(placeholder, col.name, "required value missing", raw)
    reasons.add(~empty & np.isnan(number), col.name, "not a number", raw)
    finite_or_nan = np.isnan(number) | np.isfinite(number)
    reasons.add(~finite_or_nan, col.name, "not a finite number", raw)
    ok = np.isfinite(number)
    absurd = ok & (np.abs(number) > MAX_MAGNITUDE)
    reasons.add(absurd, col.name, "implausibly large", raw)
    ok &= ~absurd
    if col.kind == Kind.INT:
        reasons.add(ok & (number != np.round(number)), col.name, "not a whole number", raw)
    if col.min is not None:
        below = number <= col.min if col.min_exclusive else number < col.min
        sign = ">" if col.min_exclusive else ">="
        reasons.add(ok & below, col.name, f"must be {sign} {col.min:g}", raw)
    if col.max is not None:
        hint = "; a share is 0.625 or 62.5%" if col.share else ""
        reasons.add(ok & (number > col.max), col.name, f"must be <= {col.max:g}{hint}", raw)
    if col.kind == Kind.INT:
        # pd.array(np.round(number), dtype="Int64") with NaN where not ok, built directly:
        # the same values and mask (and the 1 it stores under the mask), at a tenth of the cost.
        whole = np.where(ok, np.round(number), 1.0).astype(np.int64)
        return pd.Series(pd.arrays.IntegerArray(whole, ~ok), index=raw.index)
    return pd.Series(np.where(ok, number, np.nan), index=raw.index)  # (floats already)


# --- which ids name one account -------------------------------------------------------

# Columns holding a platform handle: ids compared as the account they name (`account`).
# Campaign ids are the brand's own codes, compared as written: a brand may tell "Q1" from
# "q1", and an outcome naming a campaign no file holds is refused, never merged quietly.
ACCOUNT_COLUMNS = ("creator_id",)

# Letters of other scripts drawn like a Latin letter (Unicode's confusables, UTS #39: the
# Cyrillic, Greek and Latin-extended letters whose prototype is one Latin letter), read as
# that letter. A handle typed on a Cyrillic keyboard, or pasted from a spoof, names the
# Latin account. Only letters outside ASCII are mapped: 'l' and '1', 'rn' and 'm' stay
# apart, as the platforms keep them apart.
_LOOK_ALIKES = {
    "a": ("CYRILLIC CAPITAL LETTER A", "CYRILLIC SMALL LETTER A", "GREEK CAPITAL LETTER ALPHA",
          "GREEK SMALL LETTER ALPHA", "LATIN SMALL LETTER ALPHA"),
    "b": ("CYRILLIC CAPITAL LETTER VE", "GREEK CAPITAL LETTER BETA"),
    "c": ("CYRILLIC CAPITAL LETTER ES", "CYRILLIC SMALL LETTER ES", "GREEK LUNATE SIGMA SYMBOL",
          "GREEK CAPITAL LUNATE SIGMA SYMBOL"),
    "d": ("CYRILLIC SMALL LETTER KOMI DE",),
    "e": ("CYRILLIC CAPITAL LETTER IE", "CYRILLIC SMALL LETTER IE", "GREEK CAPITAL LETTER EPSILON"),
    "g": ("LATIN SMALL LETTER SCRIPT G",),
    "h": ("CYRILLIC CAPITAL LETTER EN", "CYRILLIC SMALL LETTER SHHA", "GREEK CAPITAL LETTER ETA"),
    "i": ("CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I",
          "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I", "GREEK CAPITAL LETTER IOTA",
          "GREEK SMALL LETTER IOTA", "LATIN SMALL LETTER DOTLESS I"),
    "j": ("CYRILLIC CAPITAL LETTER JE", "CYRILLIC SMALL LETTER JE", "GREEK LETTER YOT",
          "LATIN SMALL LETTER DOTLESS J"),
    "k": ("CYRILLIC CAPITAL LETTER KA", "GREEK CAPITAL LETTER KAPPA"),
    "l": ("CYRILLIC LETTER PALOCHKA", "CYRILLIC SMALL LETTER PALOCHKA"),
    "m": ("CYRILLIC CAPITAL LETTER EM", "GREEK CAPITAL LETTER MU"),
    "n": ("GREEK CAPITAL LETTER NU",),
    "o": ("CYRILLIC CAPITAL LETTER O", "CYRILLIC SMALL LETTER O", "GREEK CAPITAL LETTER OMICRON",
          "GREEK SMALL LETTER OMICRON"),
    "p": ("CYRILLIC CAPITAL LETTER ER", "CYRILLIC SMALL LETTER ER", "GREEK CAPITAL LETTER RHO",
          "GREEK SMALL LETTER RHO"),
    "q": ("CYRILLIC CAPITAL LETTER QA", "CYRILLIC SMALL LETTER QA"),
    "s": ("CYRILLIC CAPITAL LETTER DZE", "CYRILLIC SMALL LETTER DZE"),
    "t": ("CYRILLIC CAPITAL LETTER TE", "GREEK CAPITAL LETTER TAU"),
    "u": ("GREEK SMALL LETTER UPSILON",),
    "v": ("GREEK SMALL LETTER NU",),
    "w": ("CYRILLIC CAPITAL LETTER WE", "CYRILLIC SMALL LETTER WE"),
    "x": ("CYRILLIC CAPITAL LETTER HA", "CYRILLIC SMALL LETTER HA", "GREEK CAPITAL LETTER CHI"),
    "y": ("CYRILLIC CAPITAL LETTER U", "CYRILLIC SMALL LETTER U",
          "CYRILLIC CAPITAL LETTER STRAIGHT U", "CYRILLIC SMALL LETTER STRAIGHT U",
          "GREEK CAPITAL LETTER UPSILON", "GREEK SMALL LETTER GAMMA"),
    "z": ("GREEK CAPITAL LETTER ZETA",),
}  # fmt: skip
_AS_LATIN = {ord(unicodedata.lookup(name)): latin
             for latin, names in _LOOK_ALIKES.items() for name in names}  # fmt: skip
# Drawn as nothing: Unicode's format characters (category Cf: zero-width spaces and joiners,
# soft hyphens, direction marks, which live in planes 0, 1 and 14) and its other
# default-ignorable ones (variation selectors, the combining grapheme joiner, Hangul fillers).
_FORMAT_PLANES = (range(0x20000), range(0xE0000, 0xE1000))
_IGNORABLE = (0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, *range(0xFE00, 0xFE10),
              *range(0xE0100, 0xE01F0))  # fmt: skip


def account(ids: pd.Series) -> pd.Series:
    """The account each id names, as text that every spelling of one account shares
    (pandas "string", <NA> where missing); the id as written is not changed.

    Handles are case-insensitive on the platforms and exports write them with or without
    their '@', so an id is compared after NFKC normalisation, with the characters drawn as
    nothing (zero-width spaces and joiners, soft hyphens, direction marks) removed,
    Cyrillic and Greek letters drawn like Latin ones read as those (_LOOK_ALIKES), case
    folded, blanks and leading '@'s stripped: '@Handle', 'handle', 'hand\\u200ble' and
    'h\\u0430ndle' (a Cyrillic a) are one account.
    """
    text = _stripped(ids)
    # ASCII ids (nearly all) need only their case and '@' dealt with, which Arrow does at
    # once; the others take the whole way in Python.
    plain = pc.fill_null(pc.string_is_ascii(text), True).to_numpy(zero_copy_only=False)
    folded = pc.utf8_trim_whitespace(pc.utf8_ltrim(pc.ascii_lower(text), characters="@"))
    rows = np.flatnonzero(~plain)
    if rows.size:
        spelled = text.take(pa.array(rows)).to_pylist()
        mask = np.zeros(len(text), dtype=bool)
        mask[rows] = True
        folded = pc.replace_with_mask(
            folded.combine_chunks(),
            pa.array(mask),
            pa.array([_account(t) for t in spelled], folded.type),
        )
        folded = pa.chunked_array([folded])
    return _as_series(folded, ids)


def _account(text: str) -> str:
    """`account` of one id, whatever its characters."""
    text = unicodedata.normalize("NFKC", text).translate(_spelling_table())
    text = unicodedata.normalize("NFKC", text.casefold())
    return text.strip().lstrip("@").strip()


@functools.cache
def _spelling_table() -> dict[int, str | None]:
    """str.translate's table for `account`: characters drawn as nothing removed, look-alike
    letters as the Latin letter. (Made at the first id outside ASCII: it reads the
    category of 135,000 characters.)"""
    invisible = [
        c for plane in _FORMAT_PLANES for c in plane if unicodedata.category(chr(c)) == "Cf"
    ]
    return {**dict.fromkeys([*invisible, *_IGNORABLE]), **_AS_LATIN}


def compared_keys(keys: pd.DataFrame) -> pd.DataFrame:
    """`keys` as keys are compared: the account columns (ACCOUNT_COLUMNS) as the account
    they name (`account`), the others as they are."""
    accounts = {c: account(keys[c]) for c in keys.columns if c in ACCOUNT_COLUMNS}
    return keys.assign(**accounts) if accounts else keys


def key_texts(keys: pd.DataFrame) -> np.ndarray:
    """Each row's key as one text, as keys are compared (`compared_keys`), for KeySet."""
    return _joined(compared_keys(keys))


def _joined(keys: pd.DataFrame) -> np.ndarray:
    """Each row's key as one text: a one-column key as it is; parts of a longer one each
    after its length, so that no two keys join to the same text."""
    columns = [keys[c].astype(str).to_numpy(dtype=object) for c in keys.columns]
    if len(columns) == 1:
        return columns[0]
    return np.array(["".join(f"{len(p)}:{p}" for p in parts)
                     for parts in zip(*columns, strict=True)], dtype=object)  # fmt: skip


def _parts(text: str, count: int) -> list[str]:
    """The `count` parts of a key text that _joined made."""
    if count == 1:
        return [text]
    parts, at = [], 0
    while at < len(text):
        colon = text.index(":", at)
        end = colon + 1 + int(text[at:colon])
        parts.append(text[colon + 1 : end])
        at = end
    return parts


class KeySet:
    """Keys met before (earlier chunks of a file, a history), held compactly.

    A set of millions of Python tuples costs about 150 bytes a key; this holds a
    sorted array of 64-bit hashes and the keys' text in Arrow (about 33 bytes a
    key), and checks the text of every hash it matches, so the answer is exact.
    It also keeps how each key was written where that differs from its text (an
    account spelled '@Handle': about 9 bytes more for an id of 9 characters), to
    name the first spelling to a later one.
    """

    def __init__(self, keys: pd.DataFrame | None = None) -> None:
        self._hashes = np.zeros(0, dtype=np.uint64)  # sorted
        self._where = np.zeros(0, dtype=np.int64)  # each hash's key in _texts
        self._texts: list[pa.Array] = []
        self._written: list[pa.Array] = []  # beside _texts: the key as written, or null
        self._count = 0
        if keys is not None:
            keys = keys.dropna()  # (a key missing a part names nothing a valid row could)
            texts, written = key_texts(keys), _joined(keys)
            new = ~self.met(texts)
            written[written == texts] = None  # (as compared, as written: the text alone)
            self.add(texts[new], written[new])

    def __len__(self) -> int:
        return self._count

    def met(self, texts: np.ndarray) -> np.ndarray:
        """For each key text, whether it was added before."""
        return self._positions(texts) >= 0

    def written(self, texts: np.ndarray) -> list[str]:
        """How each key text (all added before) was written when it was added."""
        at = self._positions(texts)
        written = _taken(self._written, at)
        return [
            str(t) if w is None else w
            for t, w in zip(_taken(self._texts, at), written, strict=True)
        ]

    def add(self, texts: np.ndarray, written: np.ndarray | None = None) -> None:
        """Add key texts not met before (and distinct among themselves); `written`: each
        key as written where that differs from its text, None elsewhere."""
        if not len(texts):
            return
        hashes = _hashed(texts)
        order = np.argsort(hashes, kind="stable")
        at = np.searchsorted(self._hashes, hashes[order])
        self._hashes = np.insert(self._hashes, at, hashes[order])
        self._where = np.insert(self._where, at, self._count + order)
        self._texts.append(pa.array(texts, type=pa.string()))
        spelled = pa.nulls(len(texts), pa.string()) if written is None else written
        self._written.append(pa.array(spelled, type=pa.string()))
        self._count += len(texts)

    def _positions(self, texts: np.ndarray) -> np.ndarray:
        """For each key text, where in _texts it was added (-1 where it was not)."""
        at = np.full(len(texts), -1, dtype=np.int64)
        if not self._count or not len(texts):
            return at
        hashes = _hashed(texts)
        left = np.searchsorted(self._hashes, hashes, side="left")
        right = np.searchsorted(self._hashes, hashes, side="right")
        one = np.flatnonzero(right - left == 1)  # one key of that hash: compare the text
        where = self._where[left[one]]
        same = np.asarray(_taken(self._texts, where), dtype=object) == texts[one]
        at[one[same]] = where[same]
        for row in np.flatnonzero(right - left > 1).tolist():  # a hash two keys share
            candidates = self._where[left[row] : right[row]]
            stored = _taken(self._texts, candidates)
            at[row] = next(
                (w for w, t in zip(candidates, stored, strict=True) if t == texts[row]), -1
            )
        return at


def _taken(arrays: list[pa.Array], where: np.ndarray) -> list[str | None]:
    """The texts at positions `where` of `arrays` read as one."""
    chunked = pa.chunked_array(arrays, type=pa.string())
    texts: list[str | None] = chunked.take(pa.array(where)).to_pylist()
    return texts


def _hashed(texts: np.ndarray) -> np.ndarray:
    return pd.util.hash_array(np.asarray(texts, dtype=object), categorize=False)


def _reject_duplicates(
    keys: pd.DataFrame,
    compared: pd.DataFrame,
    reasons: _Reasons,
    seen: KeySet | None,
    seen_problem: str,
) -> None:
    """The first otherwise valid row of a key wins: a broken earlier row does not block it.
    Keys are compared as `compared` holds them (compared_keys). A row whose key `seen`
    holds is rejected with `seen_problem`; a later row that spells the account otherwise
    is told the first spelling. The keys of the rows that win join `seen`."""
    candidate = ~reasons.bad
    for column in keys.columns:
        candidate &= keys[column].notna().to_numpy()
    rows = np.flatnonzero(candidate)
    texts = _joined(compared.iloc[rows]) if seen is not None else np.zeros(0, dtype=object)
    if seen is not None:
        met = _reject_seen(keys, rows, texts, reasons, seen, seen_problem)
        rows, texts = rows[~met], texts[~met]
    duplicate = np.zeros(len(rows), dtype=bool)
    if rows.size > 1:  # (a single row is no one's duplicate)
        duplicate = compared.iloc[rows].duplicated(keep="first").to_numpy()
    if duplicate.any():
        _reject_copies(keys, compared, rows, duplicate, reasons)
    if seen is not None:
        _remember(seen, keys, compared, rows[~duplicate], texts[~duplicate])


def _reject_seen(
    keys: pd.DataFrame,
    rows: np.ndarray,
    texts: np.ndarray,
    reasons: _Reasons,
    seen: KeySet,
    problem: str,
) -> np.ndarray:
    """Reject those of `rows` (their keys' texts: `texts`) whose key `seen` holds, naming
    the spelling it was first met in; returns which they were."""
    met = seen.met(texts)
    if met.any():
        parts = [_parts(text, len(keys.columns)) for text in seen.written(texts[met])]
        first = _spellings(pd.DataFrame(parts, columns=keys.columns))
        problems = _as_spelled(keys.iloc[rows[met]], first, problem)
        reasons.add_each(rows[met], "+".join(keys.columns), problems)
    return met


def _reject_copies(
    keys: pd.DataFrame,
    compared: pd.DataFrame,
    rows: np.ndarray,
    duplicate: np.ndarray,
    reasons: _Reasons,
) -> None:
    """Reject rows[duplicate], copies of an earlier row of `rows`, naming its spelling."""
    copies = rows[duplicate]
    # The first row of each key that has copies: few rows, looked up one by one.
    repeated = rows[compared.iloc[rows].duplicated(keep=False).to_numpy()]
    first: dict[tuple[object, ...], int] = {}
    for row, key in zip(repeated.tolist(), _tuples(compared.iloc[repeated]), strict=True):
        first.setdefault(key, row)
    earlier = [first[key] for key in _tuples(compared.iloc[copies])]
    problems = _as_spelled(keys.iloc[copies], _spellings(keys.iloc[earlier]), DUPLICATE)
    reasons.add_each(copies, "+".join(keys.columns), problems)


def _remember(
    seen: KeySet, keys: pd.DataFrame, compared: pd.DataFrame, rows: np.ndarray, texts: np.ndarray
) -> None:
    """Add the keys of `rows` (their texts `texts`) to `seen`, with how they were written
    where that differs from how they are compared."""
    changed = np.zeros(len(rows), dtype=bool)
    for column in keys.columns:
        written, read = keys[column].iloc[rows], compared[column].iloc[rows]
        changed |= (written != read).to_numpy(dtype=bool)
    spelled = np.full(len(rows), None, dtype=object)
    spelled[changed] = _joined(keys.iloc[rows[changed]])
    seen.add(texts, spelled)


def _tuples(keys: pd.DataFrame) -> Iterable[tuple[object, ...]]:
    return keys.itertuples(index=False, name=None)


def _spellings(keys: pd.DataFrame) -> list[str]:
    """Each row's account columns as written, joined by '+' (for people to read)."""
    columns = [c for c in keys.columns if c in ACCOUNT_COLUMNS]
    return ["+".join(map(str, parts)) for parts in _tuples(keys[columns])]


def _as_spelled(keys: pd.DataFrame, first: list[str], problem: str) -> list[str]:
    """`problem` for each row of `keys` repeating a key first written `first`, naming the
    first spelling where the row's differs ('@Handle' after 'handle')."""
    return [
        problem if later == earlier
        else f"{problem} (got {_show_id(later)}, the same account as {_show_id(earlier)})"
        for later, earlier in zip(_spellings(keys), first, strict=True)
    ]  # fmt: skip


def _show_id(text: str) -> str:
    """An id as _show quotes it, its look-alike letters as escapes (which a reader could
    not tell from Latin ones): 'h\\u0430ndle'. Invisible characters repr escapes already."""
    return "".join(f"\\u{ord(c):04x}" if ord(c) in _AS_LATIN else c for c in _show(text))


def _reject_above(
    frame: pd.DataFrame, typed: Mapping[str, pd.Series], table: Table, reasons: _Reasons
) -> None:
    """Rows where a column exceeds one it must not (sponsored posts above recent posts)."""
    for low, high in table.not_above:
        if low in typed and high in typed:
            lo = typed[low].to_numpy(dtype=float, na_value=np.nan)
            hi = typed[high].to_numpy(dtype=float, na_value=np.nan)
            above = np.isfinite(lo) & np.isfinite(hi) & (lo > hi)
            reasons.add(above, low, f"greater than {high}", frame[low])


def _reject_unknown_ids(
    frame: pd.DataFrame,
    compared: Mapping[str, pd.Series],
    known: Mapping[str, Iterable[object]],
    reasons: _Reasons,
) -> None:
    """Rows naming an id outside `known` (outcomes of creators no file holds); ids are
    compared as `compared` holds a column's (account columns as `account` reads them)."""
    for id_column, ids in known.items():
        allowed = pd.Series(list(ids), dtype="string")
        present = compared.get(id_column)
        if present is None:
            present = _text(frame[id_column], Kind.STRING)
            present = account(present) if id_column in ACCOUNT_COLUMNS else present
        if id_column in ACCOUNT_COLUMNS:
            allowed = account(allowed)
        allowed_ids = pd.Index(pd.unique(allowed))
        unknown = present.notna().to_numpy() & ~present.isin(allowed_ids).to_numpy(dtype=bool)
        what = id_column.removesuffix("_id")
        reasons.add(unknown, id_column, f"unknown {what}", frame[id_column])


def reason_first(rejects: pd.DataFrame, *leading: str) -> pd.DataFrame:
    """Rejected rows with `leading` columns, then reject_reason, first (a header alone if none)."""
    first = [*leading, REJECT_REASON]
    if REJECT_REASON not in rejects.columns:
        return pd.DataFrame(columns=first)
    return rejects[first + [c for c in rejects.columns if c not in first]]


def _typed_frame(frame: pd.DataFrame, typed: Mapping[str, pd.Series]) -> pd.DataFrame:
    """`frame` with the `typed` columns in place of its own (all of them aligned with it)."""
    if not frame.columns.is_unique or frame.attrs or not frame.flags.allows_duplicate_labels:
        # (a name twice, or what a frame carries besides its columns: column by column)
        out = frame.copy()
        for name, values in typed.items():
            out[name] = values
        return out
    # One frame built from the columns at once: setting them one by one costs more than
    # checking them, for a small frame. (From Series, so that copy-on-write knows the
    # columns are shared with `frame`: writing to one leaves the other as it was.)
    columns = {
        name: typed[name] if isinstance(name, str) and name in typed else frame[name]
        for name in frame.columns
    }
    out = pd.DataFrame(columns, index=frame.index, copy=False)
    out.columns = frame.columns
    return out


def _check_ids(
    frame: pd.DataFrame,
    typed: Mapping[str, pd.Series],
    known: Mapping[str, Iterable[object]],
    key: tuple[str, ...],
    reasons: _Reasons,
    seen: KeySet | None,
    seen_problem: str,
) -> None:
    """validate's checks of ids: an account id must name an account ('@' alone does not),
    ids must be `known`, and keys unique (and not in `seen`), as keys are compared."""
    accounts = {c: account(typed[c]) for c in ACCOUNT_COLUMNS if c in typed}
    for column, accounts_named in accounts.items():
        nameless = (accounts_named == "").fillna(False).to_numpy(dtype=bool)
        reasons.add(nameless, column, "names no account", frame[column])
    _reject_unknown_ids(frame, {**typed, **accounts}, known, reasons)
    keys = pd.DataFrame({k: typed[k] if k in typed else _text(frame[k], Kind.STRING) for k in key})
    named = {
        c: accounts[c] if c in accounts else account(keys[c]) for c in ACCOUNT_COLUMNS if c in key
    }
    _reject_duplicates(keys, keys.assign(**named), reasons, seen, seen_problem)


def validate(
    frame: pd.DataFrame,
    table: Table,
    *,
    known: Mapping[str, Iterable[object]] | None = None,
    source: str | None = None,
    key: tuple[str, ...] | None = None,
    seen: KeySet | None = None,
    seen_problem: str = DUPLICATE,
) -> Validated:
    """Split `frame` into rows that meet `table`'s contract and rejected rows.

    `known` maps an id column to the ids it may take (outcomes must name known
    creators and campaigns). Valid rows come back typed and normalised; columns
    outside the contract pass through untouched. Rejected rows keep their
    original values plus `reject_reason`. Headers as exports write them ("Avg.
    Likes") are read as the column they mean (`renamed` lists them). Duplicate
    keys (`key`, by default the table's): the first otherwise valid row wins. Ids
    of accounts (creator_id) are compared as the account they name (`account`:
    '@Handle' is 'handle'), here and against `known` and `seen`; rows keep them
    as written.
    `seen` holds keys met before (earlier chunks of a file, a history): an
    otherwise valid row with such a key is rejected with `seen_problem`, and the
    keys of this frame's valid rows are added to it. A NUL character in any
    cell rejects its row. Raises ContractError when a required column is missing
    altogether.
    """
    match = headers.contract_headers(frame, table.name, [*table.names, *(known or {})], source)
    frame = match.frame
    check_columns(frame, table, source)
    frame = frame.reset_index(drop=True)
    reasons = _Reasons(len(frame))
    nul = _reject_nul_cells(frame, reasons)
    typed = {}
    for col in table.columns:
        if col.name in frame.columns:
            typed[col.name] = _check_column(frame[col.name], col, reasons, nul.get(col.name))
    _reject_above(frame, typed, table, reasons)
    _check_ids(frame, typed, known or {}, key or table.key, reasons, seen, seen_problem)

    bad = reasons.bad
    rejects = frame.iloc[np.flatnonzero(bad)]
    rejects[REJECT_REASON] = pd.Series(reasons.strings(), index=rejects.index, dtype="str")
    valid = _typed_frame(frame, typed)
    if bad.any():
        valid = valid.iloc[np.flatnonzero(~bad)]
    for col in table.columns:
        if col.default is not None and col.name not in valid.columns:
            valid[col.name] = col.default
    return Validated(
        valid=valid if _numbered(valid.index) else valid.reset_index(drop=True),
        rejects=rejects.reset_index(drop=True),
        renamed=match.renamed,
    )
