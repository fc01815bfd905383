"""A brand's own files: a folder's tables found, read as the contract's, checked together.

    tables = load_tables(find_tables(Path("data/demo")), say=print)
    truth = read_truth(Path("data/demo"), print)   # a simulator's, under truth/, if any

`reading_notes` says how a file is read (the sheet of a workbook, title rows
skipped) and refuses a sheet that does not hold the table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd

from recommender.contract import (
    TABLES,
    Table,
    Validated,
    contract_headers,
    known_headers,
    missing_columns,
    validate_tables,
)
from recommender.errors import ContractError, DataFileError
from recommender.io import Layout, file_format, find_table, read_table, sheet_headers, table_layout

TABLE_NAMES = ("creators", "campaigns", "outcomes")
TRUTH_FILE = "expected_outcomes"  # a simulator's noise-free truth, under truth/


def load_tables(
    paths: Mapping[str, str | os.PathLike[str]],
    sheet: str | int | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Validated]:
    """Read and validate table files ({"creators": path, ...}, as validate_tables).

    `sheet` names the sheet to read in the .xlsx files (DataFileError when none is
    one); `say` is told how each file is read (`reading_notes`). A file with no
    data rows is refused, as `reading_notes` refuses a sheet without the table.
    """
    books = [path for path in paths.values() if file_format(path) == "xlsx"]
    if sheet is not None and not books:
        named = ", ".join(str(path) for path in paths.values())
        raise DataFileError(f"{named}: a sheet ({sheet!r}) was asked for, but no file given "
                            "is .xlsx")  # fmt: skip
    frames = {}
    for name, path in paths.items():
        in_book = sheet if path in books else None
        for note in reading_notes(path, in_book, name):
            if say is not None:
                say(f"{path}: {note}")
        frames[name] = read_table(path, in_book, require_rows=True)
    return validate_tables(frames, paths)


def reading_notes(path: str | os.PathLike[str], sheet: str | int | None, table: str) -> list[str]:
    """How read_table(path, sheet) reads the file as the `table` of the contract, for people:
    the sheet of a workbook ("read sheet 'Creators', 2 of 2"), title rows skipped above
    the header. DataFileError when a workbook's sheet lacks the table's required columns,
    naming the sheet read, the others, and one that holds the table."""
    layout = table_layout(path, sheet)
    if layout.sheet is not None:
        _refuse_sheet_without(path, layout, TABLES[table])
    return layout.notes()


def _refuse_sheet_without(path: str | os.PathLike[str], layout: Layout, table: Table) -> None:
    missing = _missing(layout.header, table)
    if not missing:
        return
    others = {name: cells for name, cells in sheet_headers(path).items() if name != layout.sheet}
    holding = [name for name, cells in others.items() if not _missing(cells, table)]
    likeliest = sorted(others, key=lambda name: -known_headers(others[name]))
    if holding:
        hint = f"sheet {holding[0]!r} has them: --sheet {layout.sheets.index(holding[0]) + 1}"
    elif likeliest and known_headers(others[likeliest[0]]) > 1:
        hint = f"sheet {likeliest[0]!r} looks most like a table, but lacks them too"
    else:
        hint = "no other sheet has them" if others else "it is the workbook's only sheet"
    names = ", ".join(repr(name) for name in others)
    raise DataFileError(
        f"{path}: {layout.sheet_text()} has no {table.name} column(s) {', '.join(missing)}"
        f"{f' (the other sheets: {names})' if names else ''}; {hint}"
    )


def _missing(header: Iterable[str], table: Table) -> list[str]:
    """The required columns of `table` that a header lacks (none when two of its cells mean
    one column: validation says so, in a line of its own)."""
    try:
        given = contract_headers(pd.DataFrame(columns=list(header)), table.name, table.names)
    except ContractError:
        return []
    return missing_columns(given.frame, table)


def find_tables(folder: Path) -> dict[str, Path]:
    """The three table files of a training folder."""
    if not folder.is_dir():
        raise DataFileError(f"{folder}: no such folder")
    return {name: find_table(folder, name) for name in TABLE_NAMES}


def read_truth(folder: Path, say: Callable[[str], None]) -> pd.DataFrame | None:
    """A simulator's noise-free truth under folder/truth/, if there is one."""
    if not (folder / "truth").is_dir():
        return None
    path = find_table(folder / "truth", TRUTH_FILE, required=False)
    if path is None:
        return None
    expected = read_table(path)
    numbers = ("expected_lift_usd", "true_fit", "true_cost_usd")
    missing = [c for c in ("campaign_id", "creator_id", *numbers) if c not in expected.columns]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}")
    expected = expected.astype({"campaign_id": str, "creator_id": str})
    for column in numbers:
        expected[column] = pd.to_numeric(expected[column], errors="coerce")
    say(f"evaluating against the noise-free truth in {path}")
    return expected
