"""Rank a scored file larger than memory: sorted runs on disk, merged block by block.

Ranks are per campaign over the whole input, so no row can be written before
every row is scored. A file of one chunk is ranked in memory. Past that, each
scored chunk is sorted in rank order and written to disk as a run (Arrow IPC,
in an unnamed file that vanishes with the process, however it ends), keeping
in memory only its sort keys (campaign, score, fit, creator). One sort of the
keys gives the global order; as every run is sorted by the same total order,
each block of the output takes a contiguous stretch of every run, so the runs
are read once, front to back, a batch at a time. Memory: the keys (about 40
bytes a row) and a batch per run, whatever the file's size.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender import contract
from recommender.errors import DataFileError
from recommender.io import OutputSet, arrow_table, unnamed_file, write_error
from recommender.scoring import empty_scored, rank

RUN_BATCH_ROWS = 4_096  # what a run keeps in memory while merging
BLOCK_ROWS = 65_536  # output rows written at a time
SORT_KEYS = [("campaign", "ascending"), ("score", "descending"),
             ("fit", "descending"), ("creator_id", "ascending")]  # fmt: skip


class RankedRuns:
    """Scored chunks in, one ranked table out (`write`), in bounded memory.

    `folder` is where runs are spilled (unnamed files: nothing is left there).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._first: pd.DataFrame | None = None
        self._runs: list[_Run] = []
        self._keys: list[Any] = []
        self._campaigns: dict[str, int] = {}  # campaign_id -> its number in the keys
        self.rows = 0

    def add(self, scored: pd.DataFrame) -> None:
        """Take a chunk of scored_rows' output (any order)."""
        self.rows += len(scored)
        if self._first is None and not self._runs:
            self._first = scored  # one chunk stays in memory: most files are one chunk
            return
        if self._first is not None:
            first, self._first = self._first, None
            self._spill(first)
        self._spill(scored)

    def _spill(self, scored: pd.DataFrame) -> None:
        import pyarrow as pa

        ranked = rank(scored)
        table = arrow_table(ranked)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)  # the output's folder, made early
            self._runs.append(_Run.written(self.folder, table))
        except OSError as exc:  # a full disk: said naming the folder (the runs have no name)
            raise write_error(
                self.folder, exc, "cannot hold the ranking's temporary files"
            ) from None
        local, names = pd.factorize(ranked["campaign_id"])
        codes = np.array([self._campaigns.setdefault(str(n), len(self._campaigns))
                          for n in names], dtype=np.int32)  # fmt: skip
        keys = pa.table({
            "campaign": codes[local],  # numbered as met; ordered by name when merging
            "score": _no_nan(table["score"]),
            "fit": _no_nan(table["fit_score"]),
            "creator_id": table["creator_id"],
            "run": pa.array(np.full(table.num_rows, len(self._runs) - 1, dtype=np.int32)),
            "position": pa.array(np.arange(table.num_rows, dtype=np.int32)),
        })  # fmt: skip
        self._keys.append(keys)

    def write(
        self,
        outputs: OutputSet,
        path: str | os.PathLike[str],
        input_columns: list[str],
        show: int = 0,
        own_words: Collection[str] = contract.EXPLANATION_COLUMNS,
    ) -> pd.DataFrame:
        """Write every row ranked as `path` in the run's `outputs`; returns the first `show`
        rows."""
        if not self._runs:
            ranked = rank(self._first) if self._first is not None else empty_scored(input_columns)
            outputs.table(ranked, path, own_words)
            return ranked.head(show)
        try:
            return self._merge(outputs, path, show, own_words)
        finally:
            for run in self._runs:
                run.close()

    def _merge(
        self,
        outputs: OutputSet,
        path: str | os.PathLike[str],
        show: int,
        own_words: Collection[str],
    ) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.compute as pc

        by_name = np.zeros(len(self._campaigns), dtype=np.int32)
        by_name[[self._campaigns[n] for n in sorted(self._campaigns)]] = np.arange(len(by_name))
        keys = pa.concat_tables(self._keys)
        self._keys = []
        campaign = by_name[keys["campaign"].to_numpy()]
        keys = keys.set_column(0, "campaign", pa.array(campaign))
        order = pc.sort_indices(keys, sort_keys=SORT_KEYS).to_numpy()
        run_of = keys["run"].to_numpy()[order]
        position_of = keys["position"].to_numpy()[order]
        ranks = _ranks_in_order(campaign[order])
        del keys, order, campaign
        try:  # parts of a Parquet folder may each hold other columns, or wider types
            schema_ = pa.unify_schemas([run.schema for run in self._runs],
                                       promote_options="permissive")  # fmt: skip
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataFileError(f"the input's parts disagree on a column: {exc}") from None
        taken = np.zeros(len(self._runs), dtype=np.int64)  # rows each run has given
        best = pd.DataFrame()
        with outputs.streamed(path, own_words) as out:
            for start in range(0, len(run_of), BLOCK_ROWS):
                runs = run_of[start : start + BLOCK_ROWS]
                counts = np.bincount(runs, minlength=len(self._runs))
                pieces = [
                    _aligned(self._runs[r].take(int(n)), schema_)
                    for r, n in enumerate(counts.tolist())
                    if n
                ]
                before = np.concatenate([[0], np.cumsum(counts)[:-1]])
                rows = before[runs] + position_of[start : start + BLOCK_ROWS] - taken[runs]
                taken += counts
                block = pa.concat_tables(pieces).take(pa.array(rows))
                block = block.set_column(
                    block.column_names.index("rank"), "rank",
                    pa.array(ranks[start : start + BLOCK_ROWS]),
                )  # fmt: skip
                out.write(block)
                if start == 0 and show:
                    best = block.slice(0, show).to_pandas()
        return best


def _aligned(table: Any, schema_: Any) -> Any:
    """`table` with `schema_`'s columns in its order: its own cast, the others all null."""
    import pyarrow as pa

    columns = [
        table[field.name].cast(field.type) if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema_
    ]  # fmt: skip
    return pa.Table.from_arrays(columns, schema=schema_)


def _no_nan(column: Any) -> Any:
    """Scores with NaN and nulls as -inf: last in descending order, as `rank` puts them."""
    values = column.to_numpy(zero_copy_only=False).astype(float)
    return np.where(np.isnan(values), -np.inf, values)


def _ranks_in_order(campaigns: np.ndarray) -> np.ndarray:
    """1, 2, 3... within each campaign of campaign numbers already sorted."""
    n = len(campaigns)
    starts = np.flatnonzero(np.concatenate([[True], campaigns[1:] != campaigns[:-1]]))
    first_of_row = np.repeat(starts, np.diff(np.append(starts, n)))
    return np.arange(n, dtype=np.int64) - first_of_row + 1


class _Run:
    """One sorted run on disk, read front to back."""

    def __init__(self, handle: Any, schema_: Any) -> None:
        import pyarrow as pa

        self._handle = handle
        self.schema = schema_
        self._reader = pa.ipc.open_file(handle)
        self._batch_index = 0
        self._batch: Any = None
        self._offset = 0

    @classmethod
    def written(cls, folder: Path, table: Any) -> _Run:
        import pyarrow as pa

        handle = os.fdopen(unnamed_file(folder), "w+b")
        with pa.ipc.new_file(handle, table.schema) as writer:
            writer.write_table(table, max_chunksize=RUN_BATCH_ROWS)
        handle.seek(0)
        return cls(handle, table.schema)

    def take(self, n: int) -> Any:
        """The next `n` rows, as a table."""
        import pyarrow as pa

        pieces = []
        while n:
            if self._batch is None or self._offset == self._batch.num_rows:
                self._batch = self._reader.get_batch(self._batch_index)
                self._batch_index += 1
                self._offset = 0
            k = min(n, self._batch.num_rows - self._offset)
            pieces.append(self._batch.slice(self._offset, k))
            self._offset += k
            n -= k
        return pa.Table.from_batches(pieces, schema=self.schema)

    def close(self) -> None:
        self._batch = None
        self._handle.close()
