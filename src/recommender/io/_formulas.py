"""The CSV formula guard: text a spreadsheet would run as a formula (=, +, -, @ and not
a number) gets a leading quote, so opening the file shows it rather than runs it
(OWASP's advice); the package's own words and ids that call nothing are left as
written.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import pandas as pd

from recommender.contract import (
    KEY_COLUMNS,
)

# A cell a spreadsheet would run as a formula, unless it is merely a signed number.
_FORMULA_CHARACTERS = "=+-@\t\r"


# Numbers as people write them (-5, -$7.00, +2.1%, -1.2K) and a lone dash: no formula runs.
_SIGNED_NUMBER = (
    r"^(?:[+-]?\s*(?:US\$|\$|USD)?\s*(?:\d[\d,. ]*|\.\d+)(?:[eE][+-]?\d+)?\s*[kKmMbB]?\s*%?"
    r"|-+)$"
)


# An id in a key column that starts like a formula yet can call nothing: a handle such as
# @name, @first.last or -name (no brackets, quotes, spaces, | or !). Other files join on
# it, so it is written as given; a spreadsheet may show #NAME? for it, and runs nothing.
# Twice, for Python's re (\w: any letter or digit) and for Arrow's RE2 (\w: ASCII only).
_PLAIN_KEY = r"^[+\-@][\w.\-]*$"


_PLAIN_KEY_RE2 = r"^[+\-@][\pL\pN_.\-]*$"


def runs_as_formula(text: str, key: bool = False) -> bool:
    """Whether a spreadsheet would run `text` as a formula: it starts like one and is not a
    number, nor, in a key column (`key`), a plain id (the rule `formulas_quoted_arrow`
    applies to whole columns)."""
    if text == "" or text[0] not in _FORMULA_CHARACTERS or re.fullmatch(_SIGNED_NUMBER, text):
        return False
    return not (key and re.fullmatch(_PLAIN_KEY, text))


def formulas_quoted_arrow(table: Any, own_words: Collection[str]) -> Any:
    """`formulas_quoted` for an Arrow table: the same cells quoted, in text columns only."""
    import pyarrow as pa
    import pyarrow.compute as pc

    starts = pa.array(list(_FORMULA_CHARACTERS))
    for index, column in enumerate(table.columns):
        text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if not text or table.column_names[index] in own_words:
            continue
        # A first-character lookup: a regex over every cell of a long file costs far more.
        risky = pc.is_in(pc.utf8_slice_codeunits(column, 0, 1), value_set=starts)
        if not pc.any(risky).as_py():
            continue
        risky = pc.and_(risky, pc.invert(pc.match_substring_regex(column, _SIGNED_NUMBER)))
        if table.column_names[index] in KEY_COLUMNS:
            risky = pc.and_(risky, pc.invert(pc.match_substring_regex(column, _PLAIN_KEY_RE2)))
        quote, nothing = pa.scalar("'", column.type), pa.scalar("", column.type)
        quoted = pc.binary_join_element_wise(quote, column, nothing)
        table = table.set_column(index, table.field(index), pc.if_else(risky, quoted, column))
    return table


def formulas_quoted(frame: pd.DataFrame, own_words: Collection[str]) -> pd.DataFrame:
    """Text cells a spreadsheet would run as a formula ("=HYPERLINK(...)") with a leading quote,
    so that opening the CSV shows them instead (OWASP's advice for CSV injection)."""
    quoted = {}
    for column in frame.columns:
        values = frame[column]
        text = values.dtype == object or pd.api.types.is_string_dtype(values.dtype)
        if column in own_words or not text:
            continue
        key = column in KEY_COLUMNS
        cells = [isinstance(v, str) and runs_as_formula(v, key) for v in values]
        risky = pd.Series(cells, index=values.index, dtype=bool)
        if risky.any():
            quoted[column] = values.mask(risky, "'" + values[risky].astype(str))
    return frame.assign(**quoted) if quoted else frame
