"""Property tests over the readers and the validator: whatever table of strings a user brings,
with any header spelling from the synonym table and any number format, nothing raises but a
one-line whole-file error, and every row ends valid or rejected exactly once."""

from __future__ import annotations

import csv
import io
import string
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from recommender import contract
from recommender.contract import CREATORS, HEADER_SYNONYMS, REJECT_REASON, read_numbers, validate
from recommender.errors import ContractError, DataFileError
from recommender.io import read_table

PROPERTY = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip

NO_BREAK_SPACE = "\u00a0"  # how French and Scandinavian spreadsheets group thousands

# --- numbers -----------------------------------------------------------------------------


def grouped(whole: int, separator: str) -> str:
    return f"{whole:,}".replace(",", separator)


@st.composite
def written_number(draw: st.DrawFn) -> tuple[str, float, bool, bool]:
    """(cell, the value it means, is a share, is money), written as people write numbers."""
    cents = draw(st.integers(min_value=0, max_value=10**11))
    value = cents / 100
    style = draw(st.sampled_from(["plain", "grouped", "suffix", "percent", "money"]))
    negative = draw(st.booleans()) and style in ("plain", "percent", "money")
    sign = "-" if negative else draw(st.sampled_from(["", "+"]))
    whole, fraction = divmod(cents, 100)
    decimals = f".{fraction:02d}" if fraction or draw(st.booleans()) else ""
    if style == "plain":
        cell = f"{sign}{whole}{decimals}"
    elif style == "grouped":
        separator = draw(st.sampled_from([",", " ", NO_BREAK_SPACE]))
        cell = f"{sign}{grouped(whole, separator)}{decimals}"
    elif style == "suffix":
        letter, power = draw(st.sampled_from([("K", 3), ("M", 6), ("B", 9), ("k", 3)]))
        digits = draw(st.integers(min_value=0, max_value=99_999))
        places = draw(st.integers(min_value=0, max_value=3))
        value = digits / 10**places * 10**power
        cell = f"{sign}{digits / 10**places:.{places}f}{letter}"
    elif style == "percent":
        value /= 100
        cell = f"{sign}{whole}{decimals}%"
    else:
        symbol = draw(st.sampled_from(["$", "USD ", "US$"]))
        cell = f"{sign}{symbol}{grouped(whole, ',')}{decimals}"
    value = -value if negative else value
    return cell, value, style == "percent", style == "money"


@PROPERTY
@given(written_number())
def test_any_number_as_people_write_it_reads_as_meant(number):
    cell, value, share, money = number
    read = read_numbers(pd.Series([cell]), percent=share, money=money)[0]
    assert read == pytest.approx(value, rel=1e-12, abs=1e-12), cell


# --- tables of strings through the validator ---------------------------------------------

SPELLINGS = {
    column: [column, *HEADER_SYNONYMS["creators"].get(column, ())] for column in CREATORS.names
}


def respelled(draw: st.DrawFn, spelling: str) -> str:
    """The spelling as an export may write it: other case, spaces or underscores, a dot."""
    cased = draw(st.sampled_from([spelling, spelling.upper(), spelling.title()]))
    return draw(st.sampled_from([cased, cased.replace(" ", "_"), cased.replace("_", " "),
                                 f" {cased}.", cased.replace(" ", "")]))  # fmt: skip


cell_text = st.one_of(
    st.sampled_from(["", " ", "instagram", "TikTok", "YouTube", "pets", "US", "nan", "inf",
                     "-1", "0", "1.5", "12.5K", "3,400", "62.5%", "$1,250.00", "1e308", "x"]),
    written_number().map(lambda number: number[0]),
    st.text(max_size=6),
)  # fmt: skip


@st.composite
def export_table(draw: st.DrawFn) -> pd.DataFrame:
    """A table of strings with the required columns (and some optional ones) under any of
    their spellings, unknown columns beside them, and a row id to follow each row."""
    optional = [c for c in CREATORS.names if c not in CREATORS.required]
    columns = [*CREATORS.required, *draw(st.lists(st.sampled_from(optional), unique=True))]
    headers = [respelled(draw, draw(st.sampled_from(SPELLINGS[c]))) for c in columns]
    headers += draw(st.lists(st.sampled_from(["Notes", "Bio", "Link"]), unique=True))
    rows = draw(st.integers(min_value=0, max_value=12))
    frame = pd.DataFrame(
        {h: draw(st.lists(cell_text, min_size=rows, max_size=rows)) for h in headers},
        dtype=object,
    )
    return frame.assign(row_id=range(rows))


@PROPERTY
@given(export_table())
def test_any_export_table_is_split_into_valid_and_rejected_rows_once(frame):
    checked = validate(frame, CREATORS)  # one spelling per column: never "both mean"
    valid, rejected = list(checked.valid["row_id"]), list(checked.rejects["row_id"])
    assert sorted(valid + rejected) == list(range(len(frame)))
    assert checked.rejects[REJECT_REASON].str.len().gt(0).all()
    assert set(checked.valid.columns) >= set(CREATORS.required)


# --- files of any delimiter, encoding and line ending ------------------------------------

# Headers without delimiter characters; cells with the commas of "3,400" and quotes.
header_text = st.text(alphabet=string.ascii_letters + " ._%()", min_size=1, max_size=12)
LATIN = string.ascii_letters + string.digits + " .,%$'\"-+éèüñçøå"


@st.composite
def exported_file(draw: st.DrawFn) -> tuple[bytes, list[str], list[list[str]]]:
    width = draw(st.integers(min_value=2, max_value=5))
    headers = draw(st.lists(header_text.map(str.strip).filter(bool), min_size=width,
                            max_size=width, unique=True))  # fmt: skip
    first = st.text(alphabet=string.ascii_letters, min_size=1, max_size=5)  # no blank lines
    cell = st.text(alphabet=LATIN, max_size=8)
    rows = draw(st.lists(st.tuples(first, *[cell] * (width - 1)).map(list), max_size=8))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator=newline).writerows([headers, *rows])
    return text.getvalue().encode(encoding), headers, rows


@PROPERTY
@given(exported_file())
def test_any_exported_csv_reads_back_as_written(tmp_path_factory, file):
    content, headers, rows = file
    path = Path(tmp_path_factory.mktemp("export")) / "export.csv"
    path.write_bytes(content)
    back = read_table(path)
    assert back.columns.tolist() == headers
    assert back.to_numpy().tolist() == rows


@PROPERTY
@given(st.binary(max_size=300), st.sampled_from(["csv", "tsv", "json", "jsonl", "parquet",
                                                  "xlsx"]))  # fmt: skip
def test_any_bytes_are_read_or_refused_in_one_line(tmp_path_factory, content, ext):
    path = Path(tmp_path_factory.mktemp("bytes")) / f"file.{ext}"
    path.write_bytes(content)
    try:
        frame = read_table(path)
    except DataFileError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
        return
    assume(len(frame.columns) > 0)
    try:
        validate(frame, CREATORS)
    except ContractError as exc:
        assert "\n" not in str(exc)


@PROPERTY
@given(st.lists(st.integers(min_value=0, max_value=10**11), min_size=1, max_size=8))
def test_any_column_in_decimal_commas_reads_as_meant(cents):
    cells = [f"{grouped(c // 100, '.')},{c % 100:02d}" for c in cents]
    frame = pd.DataFrame({"creator_id": [f"c{i}" for i in range(len(cells))],
                          "platform": "instagram", "followers": "1", "avg_likes": cells,
                          "avg_comments": "1", "niche": "pets"})  # fmt: skip
    checked = validate(frame, CREATORS)
    assert checked.valid["avg_likes"].tolist() == pytest.approx([c / 100 for c in cents])


# --- ids: one account, however an export spells it ---------------------------------------

HANDLE_LETTERS = string.ascii_lowercase + string.digits + "._"
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e"  # zero-width, soft hyphen, LRM
CYRILLIC = dict(zip("aeopcxyisj", "\u0430\u0435\u043e\u0440\u0441\u0445\u0443\u0456\u0455\u0458",
                    strict=True))  # fmt: skip


@st.composite
def spelled(draw: st.DrawFn, handle: str) -> str:
    """`handle` as an export may write it: any case, an '@', an invisible character,
    Cyrillic look-alike letters, fullwidth forms, blanks around it."""
    letters = []
    for letter in handle:
        style = draw(st.sampled_from(["as is", "upper", "cyrillic", "fullwidth"]))
        if style == "upper":
            letter = letter.upper()
        elif style == "cyrillic":
            letter = CYRILLIC.get(letter, letter)
        elif style == "fullwidth":
            letter = chr(ord(letter) + 0xFEE0)  # ASCII's fullwidth twin, which NFKC undoes
        letters.append(letter)
    where = draw(st.integers(min_value=0, max_value=len(letters)))
    letters.insert(where, draw(st.sampled_from(["", *INVISIBLE])))
    at = draw(st.sampled_from(["", "@", "\uff20"]))  # (a fullwidth @ too)
    return (
        draw(st.sampled_from(["", " "])) + at + "".join(letters) + draw(st.sampled_from(["", " "]))
    )


@PROPERTY
@given(st.lists(st.text(alphabet=HANDLE_LETTERS, min_size=1, max_size=5), min_size=1,
                max_size=4, unique=True), st.data())  # fmt: skip
def test_every_spelling_of_a_handle_is_one_account(handles, data):
    """Rows of a few handles, each spelled many ways: one row per account is valid, the first
    of its spellings, and every later one is a duplicate that names it."""
    rows = data.draw(st.lists(st.sampled_from(handles), min_size=1, max_size=12))
    ids = [data.draw(spelled(handle)) for handle in rows]
    frame = pd.DataFrame({"creator_id": ids, "platform": "instagram", "followers": "1",
                          "avg_likes": "1", "avg_comments": "1", "niche": "pets",
                          "row_id": range(len(ids))})  # fmt: skip
    checked = validate(frame, CREATORS)
    first = {handle: rows.index(handle) for handle in dict.fromkeys(rows)}
    assert checked.valid["row_id"].tolist() == sorted(first.values())
    assert checked.valid["creator_id"].tolist() == [  # as written, blanks aside
        ids[row].strip() for row in sorted(first.values())
    ]
    assert checked.rejects["creator_id"].tolist() == [
        ids[row] for row in range(len(rows)) if row not in first.values()
    ]  # as written
    assert (
        checked.rejects[REJECT_REASON]
        .str.startswith("creator_id: duplicate of an earlier row")
        .all()
    )
    assert contract.account(pd.Series(ids)).tolist() == rows
