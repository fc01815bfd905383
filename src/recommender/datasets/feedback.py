"""Outcome feedback: new campaign results join the training history, each exactly once.

`add_outcomes` validates new rows against the outcomes contract (and the known
creators and campaigns) and refuses rows the history already holds (same
campaign_id and creator_id) and rows that repeat within the new ones.
`add_outcome_file` does that for a training folder's files, appending the rest
to its outcomes file atomically (rewritten in the contract's columns and plain
numbers, so old and new rows read back alike), one run at a time per folder. Then
retrain: the champion gate decides whether the retrained model replaces the current one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recommender import contract
from recommender.errors import DataFileError
from recommender.io import check_outputs, find_table, folder_lock, output_set, read_table

ALREADY_KNOWN = "already in the outcome history"
HISTORY_LOCK = "outcomes"  # what the training folder's lock guards (said when it cannot be taken)


@dataclass(frozen=True)
class Added:
    """The history with the new rows appended, how many were added, and the refused rows."""

    combined: pd.DataFrame
    added: int
    rejects: pd.DataFrame  # new rows refused, as given, with reject_reason


def add_outcomes(
    history: pd.DataFrame,
    new: pd.DataFrame,
    creator_ids: pd.Series | None = None,
    campaign_ids: pd.Series | None = None,
) -> Added:
    """Append valid new outcome rows that the history does not already hold."""
    known = {}
    if creator_ids is not None:
        known["creator_id"] = creator_ids
    if campaign_ids is not None:
        known["campaign_id"] = campaign_ids
    # A rejects file fed back in (fixed by hand) brings its reasons: they are not outcomes.
    new = new.drop(columns=[contract.REJECT_REASON], errors="ignore")
    key = list(contract.OUTCOMES.key)
    held = history[key].apply(lambda column: column.astype("string").str.strip())
    checked = contract.validate(
        new, contract.OUTCOMES, known=known, seen=contract.KeySet(held),
        seen_problem=ALREADY_KNOWN,
    )  # fmt: skip
    combined = pd.concat([history, checked.valid], ignore_index=True)
    return Added(combined, len(checked.valid), checked.rejects)


def _typed(history: pd.DataFrame) -> pd.DataFrame:
    """The history's rows typed as the contract reads them, so that new rows (typed) and old
    ones write in one convention (an export's 15,36 and a new 9.02 could not be read
    back together); rows the contract refuses stay as they were, after the others."""
    checked = contract.validate(history, contract.OUTCOMES)
    kept = checked.rejects.drop(columns=[contract.REJECT_REASON])
    return pd.concat([checked.valid, kept], ignore_index=True) if len(kept) else checked.valid


def add_outcome_file(
    data_dir: str | os.PathLike[str],
    new_path: str | os.PathLike[str],
    rejects_path: Path,
    waiting: Callable[[], None] | None = None,
) -> tuple[Added, Path]:
    """Add the outcomes of `new_path` to the training folder's outcomes file; write the
    refused rows to `rejects_path`. The two are put in place together, or neither is.
    Returns what was added and the outcomes file.

    Runs on one folder take turns (the folder's lock, see io.folder_lock): each reads
    the history that the one before wrote, so no run's rows replace another's.
    `waiting` is called when this run has to wait for another."""
    folder = Path(data_dir)
    paths = {name: find_table(folder, name) for name in ("creators", "campaigns", "outcomes")}
    check_outputs({"outcomes history": paths["outcomes"], "rejects file": rejects_path},
                  {"new outcomes file": new_path, "creators file": paths["creators"],
                   "campaigns file": paths["campaigns"]})  # fmt: skip
    # The lock is beside the file rewritten (a history linked from another folder included).
    with folder_lock(Path(os.path.realpath(paths["outcomes"])).parent, HISTORY_LOCK, waiting):
        return _added_to_history(paths, new_path, rejects_path)


def _added_to_history(
    paths: dict[str, Path], new_path: str | os.PathLike[str], rejects_path: Path
) -> tuple[Added, Path]:
    """add_outcome_file's reading, merging and writing, with the folder locked."""
    # A folder of exports is read in the contract's columns, and the history rewritten so.
    tables = {
        name: contract.contract_headers(read_table(path), name, contract.TABLES[name].names).frame
        for name, path in paths.items()
    }
    needed = {"creators": ["creator_id"], "campaigns": ["campaign_id"],
              "outcomes": list(contract.OUTCOMES.key)}  # fmt: skip
    for name, columns in needed.items():
        missing = [c for c in columns if c not in tables[name].columns]
        if missing:
            raise DataFileError(f"{paths[name]}: no {', '.join(missing)} column")
    result = add_outcomes(
        _typed(tables["outcomes"]), read_table(new_path), tables["creators"]["creator_id"],
        tables["campaigns"]["campaign_id"],
    )  # fmt: skip
    with output_set(paths["outcomes"], rejects_path) as outputs:
        outputs.table(result.combined, paths["outcomes"])
        outputs.table(contract.reason_first(result.rejects), rejects_path)
    return result, paths["outcomes"]
