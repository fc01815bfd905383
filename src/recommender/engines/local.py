"""Files in, files out: score a candidate file, or plan over one, writing every output atomically.

The creators file is read in chunks (CSV and Parquet stream; JSON Lines is read
whole), each chunk validated and scored; duplicates are caught across chunks.
Ranking needs every score of a campaign, so scored rows are gathered (only
each campaign's best `top` when --top is given) and ranked at the end.

A file of more than one chunk is scored by worker processes, one per core:
features and reasons are Python work that one process cannot spread over
cores. Reading, validation and duplicate checks stay in this process, in file
order, so the output is the same whatever the number of workers (tested).

This process needs no model to validate and rank, so it imports none of the
models' libraries (scikit-learn, LightGBM, numba: a second and more) when
workers score: with `preloaded_workers`, a server process imports them while
this one already reads and validates, and forks the workers, which load the
model file themselves. Each scored chunk says which model scored it; chunks
scored by two different models (a promotion between the workers' loads) stop
the run.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from recommender import _libc, config, contract
from recommender.contract import renamed_text
from recommender.engines import _forkserver
from recommender.engines._pool import ModelWorkers, WorkerDied, WorkerNotStarted
from recommender.engines._spill import RankedRuns
from recommender.errors import DataFileError, ScoringError
from recommender.io import (
    OutputSet,
    check_outputs,
    file_format,
    output_set,
    part_files,
    read_chunks,
    read_table,
)
from recommender.scoring import (
    best_of_each_campaign,
    candidate_pairs,
    checked_campaigns,
    creator_headers,
    rank,
    scored_rows,
)

if TYPE_CHECKING:  # (imported where used: see the module's docstring)
    from multiprocessing.context import BaseContext

    from recommender.mlops.model_store import ModelIdentity, ModelRef
    from recommender.modeling.estimator import Recommender
    from recommender.scoring.planning import Constraints, Plan

# scored_rows' rows, the seconds they took, and the model that scored them
ScoredChunk = tuple[pd.DataFrame, float, "ModelIdentity"]
CHUNK_ROWS = 50_000  # small enough that workers share the last chunks evenly
MAX_WORKERS = 4  # scoring processes at most (each holds a chunk); fewer on fewer cores
PROGRESS_FROM_ROWS = 100_000


@dataclass
class BatchReport:
    """What a scoring run did: rows in, scored and rejected, and where the time went.

    `best` holds the first rows of the ranked output (as many as asked for).
    """

    rows_in: int = 0
    scored: int = 0
    rejected: int = 0
    campaigns: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    best: pd.DataFrame = field(default_factory=pd.DataFrame)
    model: ModelIdentity | None = None

    def summary(self) -> dict[str, Any]:
        """The run as JSON-ready fields: counts, the model that scored, and the time."""
        return {
            "rows_in": self.rows_in,
            "scored": self.scored,
            "rejected": self.rejected,
            "campaigns": self.campaigns,
            "model": self.model.as_dict() if self.model else None,
            "seconds": {stage: round(t, 3) for stage, t in self.seconds.items()},
        }

    def add_time(self, stage: str, seconds: float) -> None:
        """Count `seconds` towards `stage`."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


def summary_path(out_path: str | os.PathLike[str]) -> Path:
    """Where score and plan write the run's summary: <out>.summary.json beside the output."""
    out = Path(out_path)
    return out.with_name(f"{out.stem}.summary.json")


def read_campaign(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A .json file holding one campaign object (or a list of them), or a campaigns table."""
    campaigns = read_table(path)
    if campaigns.empty:
        raise DataFileError(f"{path}: no campaign in it")
    return campaigns


def count_rows(path: Path) -> int | None:
    """Rows in a creators file, cheaply (for the progress bar); None when unknown."""
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return sum(int(pq.ParquetFile(p).metadata.num_rows) for p in part_files(path))
        if fmt == "csv":
            with open(path, "rb") as handle:
                blocks = iter(lambda: handle.read(1 << 20), b"")
                return max(sum(block.count(b"\n") for block in blocks) - 1, 0)
    except Exception:  # the reader reports what is wrong with the file, in one line
        return None
    return None


def score_file(
    creators_path: str | os.PathLike[str],
    campaign_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    rejects_path: str | os.PathLike[str],
    model: ModelRef = None,
    top: int | None = None,
    say: Callable[[str], None] = print,
    progress: bool | None = None,
    workers: int | None = 1,
    chunk_rows: int = CHUNK_ROWS,
    show: int = 0,
    sheet: str | int | None = None,
    preloaded_workers: bool = False,
) -> BatchReport:
    """Score a creators file for the campaign(s); write the ranked and rejected rows atomically.

    `workers` processes score the chunks; 1 scores in this process; None picks
    one per core (up to MAX_WORKERS) when the file has more than one chunk.
    Where workers are spawned (not Linux), a script calling this with workers
    != 1 needs the `if __name__ == "__main__":` guard; so does one passing
    `preloaded_workers` (the CLI's way: a model folder's workers come from
    the forkserver, _forkserver). `show`: how many best rows to keep in the report's `best`.
    `sheet`: an .xlsx's sheet. The summary, naming the model, goes to <out>.summary.json.
    Outputs that would replace an input or each other are refused before any work; the
    three are put in place together at the end, so a run that fails or is stopped
    leaves the earlier three as they were.
    """
    summary = summary_path(out_path)
    check_outputs(
        {"output": out_path, "rejects file": rejects_path, "summary": summary},
        {"creators file": creators_path, "campaign file": campaign_path},
    )
    with output_set(out_path, rejects_path, summary) as outputs:
        campaigns = valid_campaigns(campaign_path, say)  # said before the model loads
        report, creators_path = BatchReport(campaigns=len(campaigns)), Path(creators_path)
        total = count_rows(creators_path)
        if workers is None:
            workers = min(MAX_WORKERS, os.cpu_count() or 1) if (total or 0) > chunk_rows else 1
        scorer, ahead = _chosen_scorer(model, workers, preloaded_workers, report, say)
        chunks = _ChunkScoring(campaigns, top, report, Path(out_path).parent, say, ahead)
        with scorer as submit:
            read = _timed_chunks(creators_path, chunk_rows, report, sheet, workers)
            _score_chunks(read, chunks, submit, creators_path, _progress_bar(total, progress))
        _write_outputs(outputs, chunks, out_path, rejects_path, top, show, report)
        outputs.json(report.summary(), summary)
    dropped = "" if top is None else f" (kept the best {top} per campaign)"
    # Said once the files are in place: a closed stdout cannot stop the run midway.
    say(f"{report.rows_in:,} creator rows: {report.scored:,} scored rows{dropped} for "
        f"{report.campaigns} campaign(s) -> {out_path}; {report.rejected:,} rejected -> "
        f"{rejects_path}")  # fmt: skip
    return report


def _score_chunks(
    read: Iterator[pd.DataFrame],
    chunks: _ChunkScoring,
    submit: Callable[[pd.DataFrame], Future[ScoredChunk]],
    path: Path,
    bar: Any,
) -> None:
    """Hand every chunk read to `chunks` and wait for their scores, counting the rows on
    the progress bar (closed however this ends, so that an error starts its own line)."""
    try:
        for index, chunk in enumerate(read):
            if index == 0:  # every chunk has the file's header: read it once
                headers = creator_headers(chunk.head(0))
                _say_renamed(headers.renamed, path, chunks.say)
                chunks.input_columns = list(headers.frame.columns)
            chunks.add(chunk, submit, path)
            if bar is not None:
                bar.update(len(chunk))
        chunks.finish()
    finally:
        if bar is not None:
            bar.close()


def _chosen_scorer(
    model: ModelRef, workers: int, preloaded: bool, report: BatchReport, say: Callable[[str], None]
) -> tuple[AbstractContextManager[Callable[[pd.DataFrame], Future[ScoredChunk]]], int]:
    """(the scorer, how many chunks may be scored or wait at once). Preloaded workers load
    the model themselves; meanwhile this process reads and validates ahead."""
    if preloaded and workers > 1 and _by_path(model):
        from recommender.mlops.model_store import local_model_file

        local_model_file(model)  # one that is not there is said now, before the file is read
        return _preloaded_scorer(model, workers), 4 * workers
    return _scorer(_load_model(model, report, say), workers), workers


def _load_model(
    model: ModelRef, report: BatchReport, say: Callable[[str], None]
) -> tuple[Recommender, ModelIdentity]:
    """The model and its identity, timed, the identity kept in the report and said."""
    from recommender.mlops.model_store import loaded_model

    start = time.perf_counter()
    recommender, report.model = loaded_model(model)
    report.add_time("load model", time.perf_counter() - start)
    say(f"scoring with {report.model.text()}")
    return recommender, report.model


def _by_path(model: ModelRef) -> bool:
    """Whether workers can load `model` themselves: a folder or file on this machine (not
    a Recommender, nor an MLflow URI, resolved once, here: workers resolving an alias each
    might differ), where there is a forkserver (not Windows)."""
    if model is not None and not isinstance(model, (str, os.PathLike)):
        return False
    return _forkserver.available() and not config.is_model_uri(
        str(model or config.settings().model)
    )


def valid_campaigns(path: str | os.PathLike[str], say: Callable[[str], None]) -> pd.DataFrame:
    """The valid campaigns of a campaign file; the invalid ones are reported and skipped."""
    try:
        checked = checked_campaigns(read_campaign(path))
    except ScoringError as exc:
        raise DataFileError(f"{path}: {exc}") from None
    _say_renamed(checked.renamed, path, say)
    for reason in checked.rejects.get(contract.REJECT_REASON, pd.Series(dtype=str)):
        say(f"skipped a campaign of {path}: {reason}")
    return checked.valid


def _say_renamed(
    renamed: tuple[tuple[str, str], ...], path: str | os.PathLike[str], say: Callable[[str], None]
) -> None:
    if renamed:
        say(f"read the headers of {path} as: {renamed_text(renamed)}")


def _timed_chunks(
    path: Path, rows: int, report: BatchReport, sheet: str | int | None, workers: int
) -> Iterator[pd.DataFrame]:
    """The file's chunks, counting their rows and the time spent reading them. With
    workers, the first chunk comes in growing pieces (an eighth, an eighth, a quarter, a
    half): the workers start on the first piece instead of waiting, idle, for a whole
    chunk to be validated."""
    chunks = read_chunks(path, rows, sheet)
    first = True
    while True:
        tick = time.perf_counter()
        chunk = next(chunks, None)
        report.add_time("read", time.perf_counter() - tick)
        if chunk is None:
            return
        pieces = _growing_pieces(len(chunk)) if first and workers > 1 else [len(chunk)]
        first = False
        start = 0
        for size in pieces:
            piece = chunk if size == len(chunk) else chunk.iloc[start : start + size]
            start += size
            report.rows_in += len(piece)
            yield piece


def _growing_pieces(rows: int) -> list[int]:
    """Sizes that add up to `rows`: an eighth, an eighth, a quarter, the rest."""
    eighth = rows // 8
    return [eighth, eighth, 2 * eighth, rows - 4 * eighth] if eighth else [rows]


class _ChunkScoring:
    """Validates chunks here, in file order, and gathers what the scorer sends back."""

    def __init__(
        self,
        campaigns: pd.DataFrame,
        top: int | None,
        report: BatchReport,
        spill_folder: str | os.PathLike[str],
        say: Callable[[str], None],
        ahead: int,
    ) -> None:
        self.campaigns = campaigns
        self.ahead = ahead  # chunks being scored or waiting to be, at most
        self.top = top
        self.report = report
        self.say = say
        self.runs = RankedRuns(spill_folder)  # every row, ranked at the end
        self.best: list[pd.DataFrame] = []  # with `top`: each chunk's best rows of a campaign
        self.rejects: list[pd.DataFrame] = []
        self.seen = contract.KeySet()  # keys of valid rows: later copies are rejected
        self.pending: deque[Future[ScoredChunk]] = deque()
        self.input_columns: list[str] = []

    def add(
        self,
        chunk: pd.DataFrame,
        submit: Callable[[pd.DataFrame], Future[ScoredChunk]],
        path: Path,
    ) -> None:
        """Validate a chunk and hand its valid pairs to the scorer; wait while more than
        `ahead` are being scored or waiting to be."""
        tick = time.perf_counter()
        try:
            pairs, rejects = candidate_pairs(chunk, self.campaigns, self.seen)
        except ScoringError as exc:
            raise DataFileError(f"{path}: {exc}") from None
        self.rejects.append(rejects)
        self.report.add_time("validate", time.perf_counter() - tick)
        if len(pairs):
            self.pending.append(submit(pairs))
            # (and what is done: a model that cannot load is said before the file is read)
            while self.pending and (len(self.pending) > self.ahead or self.pending[0].done()):
                self._collect()

    def finish(self) -> None:
        """Wait for every chunk still being scored."""
        while self.pending:
            self._collect()
        self.seen = contract.KeySet()  # every row is in: the keys are no longer needed

    def _collect(self) -> None:
        scored, seconds, model = self.pending.popleft().result()
        if self.report.model is None:  # loaded by the workers: said as they first answer
            self.report.model = model
            self.say(f"scoring with {model.text()}")
        elif model != self.report.model:
            raise ScoringError(
                f"the model changed while this file was scored ({self.report.model.text()}, "
                f"then {model.text()}): nothing was written; score it again"
            )
        self.report.add_time("score", seconds)  # summed over workers, which overlap the reading
        if self.top is not None:  # keep memory bounded: a campaign's best `top` of each chunk
            self.best.append(best_of_each_campaign(scored, self.top))
        else:
            self.runs.add(scored)


def _write_outputs(
    outputs: OutputSet,
    chunks: _ChunkScoring,
    out_path: str | os.PathLike[str],
    rejects_path: str | os.PathLike[str],
    top: int | None,
    show: int,
    report: BatchReport,
) -> None:
    """Rank what was scored and write it and the rejects into the run's `outputs`."""
    tick = time.perf_counter()
    rejected = pd.concat(chunks.rejects, ignore_index=True) if chunks.rejects else pd.DataFrame()
    if chunks.best:  # the best `top` of each chunk: the best `top` of the file among them
        chunks.runs.add(rank(pd.concat(chunks.best, ignore_index=True), top))
    report.best = chunks.runs.write(outputs, out_path, chunks.input_columns, show)
    report.scored = chunks.runs.rows
    outputs.table(contract.reason_first(rejected), rejects_path)
    report.add_time("rank and write", time.perf_counter() - tick)
    report.rejected = len(rejected)


@contextmanager
def _scorer(
    model: tuple[Recommender, ModelIdentity], workers: int
) -> Iterator[Callable[[pd.DataFrame], Future[ScoredChunk]]]:
    """submit(pairs) -> a future of timed_score(*model, pairs), here or in `workers`
    processes. On Linux they are forked, which takes milliseconds where spawning takes
    seconds of imports; the workers walk trees without OpenMP (not fork-safe)."""
    if workers <= 1:

        def here(pairs: pd.DataFrame) -> Future[ScoredChunk]:
            done: Future[ScoredChunk] = Future()
            done.set_result(timed_score(*model, pairs))
            return done

        yield here
        return
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with _workers(model, workers, context) as submit:
        yield submit


@contextmanager
def _preloaded_scorer(
    model: str | os.PathLike[str] | None, workers: int
) -> Iterator[Callable[[pd.DataFrame], Future[ScoredChunk]]]:
    """_scorer's submit, by `workers` processes that load `model` (a folder or file; None:
    the champion) themselves, forked from the forkserver while this process reads."""
    _forkserver.start()  # from this thread: it starts the server deaf to Ctrl-C
    with _workers(model, workers, _forkserver.context()) as submit:
        yield submit


@contextmanager
def _workers(
    model: Any, workers: int, context: BaseContext
) -> Iterator[Callable[[pd.DataFrame], Future[ScoredChunk]]]:
    """submit(pairs) for `workers` processes that `context` starts, holding `model` (see
    _pool.ModelWorkers). Each is handed two chunks at once, so that it never waits for
    the next to arrive. A worker that died or could not start is said in one line; a
    run that stops (an error, Ctrl-C) ends them at once, mid-chunk."""
    with ModelWorkers(model, workers, context, depth=2) as pool:
        try:
            yield lambda pairs: pool.submit(timed_score, pairs)
        except WorkerNotStarted as exc:  # the forkserver could not start (a library broken)
            raise ScoringError(f"could not start the scoring workers: {exc.why}") from None
        except WorkerDied:  # a worker killed from outside: the OOM killer, a kill -9
            raise ScoringError(
                "a scoring worker process died (out of memory?); nothing was written; "
                "try again, or with --workers 1"
            ) from None


def timed_score(
    recommender: Recommender, identity: ModelIdentity, pairs: pd.DataFrame
) -> ScoredChunk:
    """scored_rows by the model, the seconds it took, and the model's identity (a
    worker's job, sent by name)."""
    begun = time.perf_counter()
    scored = scored_rows(recommender, pairs)
    return scored, time.perf_counter() - begun, identity


def _progress_bar(total: int | None, wanted: bool | None) -> Any:
    if wanted is False or (wanted is None and (total or 0) <= PROGRESS_FROM_ROWS):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=" rows", file=sys.stderr, desc="scoring")


@dataclass(frozen=True)
class PlanFiles:
    """Where plan_file wrote: the chosen creators, rejects, summary and figure (None: no
    plan, and no figure left there)."""

    chosen: Path
    rejects: Path
    summary: Path
    figure: Path | None


def plan_file(
    creators_path: str | os.PathLike[str],
    campaign_path: str | os.PathLike[str],
    budget_usd: float,
    out_path: str | os.PathLike[str],
    rejects_path: str | os.PathLike[str],
    model: ModelRef = None,
    explore: float = 0.0,
    constraints: Constraints | None = None,
    sheet: str | int | None = None,
    say: Callable[[str], None] = print,
    seed: int | None = None,
) -> tuple[Plan, PlanFiles]:
    """Plan over a creators file for the one campaign of `campaign_path`; write the chosen
    creators, the rejected rows, the summary (<out>.summary.json) and its figure (<out>.png).

    Returns the Plan and where its files went. The campaign's platform needs no
    rule: scoring rejects other platforms' rows. Outputs that would replace an input
    or each other are refused before any work. The files are put in place together
    at the end: a run that fails leaves the earlier plan's files as they were, and a
    plan with no creator, which has no figure, removes the earlier plan's figure (it
    would sit beside the new plan describing another).
    """
    out = Path(out_path)
    summary, figure = summary_path(out), out.with_name(f"{out.stem}.png")
    check_outputs(
        {"output": out, "rejects file": rejects_path, "summary": summary},
        {"creators file": creators_path, "campaign file": campaign_path},
        others={"figure": figure},
    )
    with output_set(out, rejects_path, summary, figure) as outputs:
        campaign = read_campaign(campaign_path)
        if len(campaign) != 1:
            raise DataFileError(f"{campaign_path}: plan takes exactly one campaign")
        creators = read_table(creators_path, sheet, require_rows=True)
        _say_renamed(creator_headers(creators.head(0)).renamed, creators_path, say)
        from recommender.api import plan

        with native_stdout_silenced():
            result = plan(creators, campaign, budget_usd, model, explore, constraints, seed)
        files = PlanFiles(
            chosen=out,
            rejects=Path(rejects_path),
            summary=summary,
            figure=figure if result.summary["creators"] else None,
        )
        outputs.table(result.chosen, files.chosen, own_words=contract.EXPLANATION_COLUMNS)
        outputs.table(contract.reason_first(result.rejects), files.rejects)
        outputs.json(result.summary, files.summary)
        if files.figure is not None:
            _save_plan_figure(outputs, result.chosen, result.summary, files.figure)
    return result, files


def _save_plan_figure(
    outputs: OutputSet, chosen: pd.DataFrame, summary: dict[str, Any], path: Path
) -> None:
    from recommender.scoring import plots

    figure = plots.plan_figure(chosen, summary)
    try:
        with outputs.file(path) as tmp_name:
            figure.savefig(tmp_name, dpi=100, format="png")
    finally:
        plots.close([figure])


@contextmanager
def native_stdout_silenced() -> Iterator[None]:
    """Keep the process's stdout quiet while a plan is solved: whatever its options, HiGHS
    can print a debug line ("HighsMipSolverData::transformNewIntegerFeasibleSolution",
    ERGO-Code/HiGHS#2783) into the printed summary. For command-line jobs only: it
    redirects the whole process's file descriptor 1, which no server thread should do."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (AttributeError, OSError, ValueError):  # no stdout to protect
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        _libc.flush_c_stdout()  # what native code buffered goes to /dev/null, not after
        os.dup2(saved, 1)
        os.close(saved)
