"""Cells as people write them: numbers, placeholders, spreadsheet errors, lists.

`read_numbers` reads numeric cells written for people: thousands separators
("3,400", "1 200"), K/M/B suffixes ("12.5K"), percents where the column is a
share ("62.5%" is 0.625) and dollar amounts where it is money ("$1,250.00").
A cell it cannot read as meant comes back NaN, for validation to reject with
its reason; it never guesses ("12,5" is neither 12.5 nor 125). `UNKNOWN_NUMBER`
are the placeholders exports write for a number nobody knows ("-", "N/A");
`EXCEL_ERRORS` what a spreadsheet shows where a formula failed (#DIV/0!), to
reject as such; `nested_cells` finds a list where one value belongs.
`people_count` writes a count back as people read it ("12.5k").
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

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


def people_count(value: float) -> str:
    """A count (followers) for people: 950, 12.5k, 1.2M."""
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"
