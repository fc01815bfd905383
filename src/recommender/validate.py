"""Check whole tables against the data contract: creators, campaigns and outcomes together.

`validate_tables` checks frames, `load_tables` files; outcomes are checked
against the valid creators and campaigns. `reading_notes` says how a file is
read (the sheet of a workbook, title rows skipped) and refuses a sheet that does
not hold the table, `summarise` says what happened in lines for people and
`combined_rejects` puts every rejected row in one frame (with `table` and
`reject_reason` first). The `validate` command is built on them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping

import pandas as pd

from recommender import schema
from recommender.errors import ContractError, DataFileError
from recommender.exports import contract_headers, known_headers, renamed_text
from recommender.io import Layout, file_format, read_table, sheet_headers, table_layout

TABLE_COLUMN = "table"


def validate_tables(
    frames: Mapping[str, pd.DataFrame], sources: Mapping[str, object] | None = None
) -> dict[str, schema.Validated]:
    """Validate the creators frame and, when given, the campaigns and outcomes frames.

    `frames` maps table names (creators, campaigns, outcomes) to frames; `sources`
    names where each came from, for messages. Outcomes must name valid creators
    (and valid campaigns, when campaigns are given). Raises DataFileError when a
    table lacks a required column altogether.
    """
    result: dict[str, schema.Validated] = {}
    for name in ("creators", "campaigns", "outcomes"):
        if name not in frames:
            continue
        known: dict[str, Iterable[object]] = {}
        if name == "outcomes":
            known["creator_id"] = result["creators"].valid["creator_id"]
            if "campaigns" in result:
                known["campaign_id"] = result["campaigns"].valid["campaign_id"]
        source = str((sources or {}).get(name, "")) or None
        try:
            result[name] = schema.validate(
                frames[name], schema.TABLES[name], known=known, source=source
            )
        except ContractError as exc:
            raise DataFileError(str(exc)) from None
    return result


def load_tables(
    paths: Mapping[str, str | os.PathLike[str]],
    sheet: str | int | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, schema.Validated]:
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
        _refuse_sheet_without(path, layout, schema.TABLES[table])
    return layout.notes()


def _refuse_sheet_without(
    path: str | os.PathLike[str], layout: Layout, table: schema.Table
) -> None:
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


def _missing(header: Iterable[str], table: schema.Table) -> list[str]:
    """The required columns of `table` that a header lacks (none when two of its cells mean
    one column: validation says so, in a line of its own)."""
    try:
        given = contract_headers(pd.DataFrame(columns=list(header)), table.name, table.names)
    except ContractError:
        return []
    return schema.missing_columns(given.frame, table)


def summarise(tables: Mapping[str, schema.Validated], top: int = 5) -> list[str]:
    """Lines for the user: counts per table, then the most common problems."""
    lines = []
    for name, checked in tables.items():
        n_valid, n_rejected = checked.counts
        if checked.renamed:
            lines.append(f"{name}: read {len(checked.renamed)} headers as contract columns:")
            lines += [f"  {renamed_text([pair])}" for pair in checked.renamed]
        lines.append(f"{name}: {n_valid:,} valid, {n_rejected:,} rejected")
        if n_rejected:
            problems = (
                checked.rejects[schema.REJECT_REASON]
                .str.split("; ")
                .explode()
                .str.replace(r" \(got .*\)$", "", regex=True)
                .value_counts()
            )
            for problem, count in problems.head(top).items():
                lines.append(f"  {count:>8,}  {problem}")
    return lines


def combined_rejects(tables: Mapping[str, schema.Validated]) -> pd.DataFrame:
    """Every table's rejected rows in one frame, `table` and `reject_reason` first."""
    parts = [
        checked.rejects.assign(**{TABLE_COLUMN: name})
        for name, checked in tables.items()
        if len(checked.rejects)
    ]
    rejects = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return schema.reason_first(rejects, TABLE_COLUMN)
