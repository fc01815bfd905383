"""Score candidate files: files in, ranked file and rejects file out, in bounded chunks.

The creators file is read in chunks (CSV and Parquet stream; JSON Lines is read
whole), each chunk validated and scored; duplicates are caught across chunks.
Ranking needs every score of a campaign, so scored rows are gathered (only
each campaign's best `top` when --top is given) and ranked at the end.

A file of more than one chunk is scored by worker processes, one per core:
features and reasons are Python work that one process cannot spread over
cores. Reading, validation and duplicate checks stay in this process, in file
order, so the output is the same whatever the number of workers (tested).
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from recommender import schema
from recommender.explain import usd
from recommender.io import (
    DataFileError,
    atomic_path,
    file_format,
    read_chunks,
    read_table,
    write_json,
    write_table,
)
from recommender.modeling.recommender import Recommender
from recommender.scoring import (
    ScoringError,
    candidate_pairs,
    checked_campaigns,
    load_model,
    rank,
    score_pairs,
)

CHUNK_ROWS = 50_000  # small enough that workers share the last chunks evenly
MAX_WORKERS = 4  # scoring processes at most (each holds a chunk); fewer on fewer cores
PROGRESS_FROM_ROWS = 100_000


@dataclass
class BatchReport:
    rows_in: int = 0
    scored: int = 0
    rejected: int = 0
    campaigns: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def add_time(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


def read_campaign(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A .json file holding one campaign object (or a list of them), or a campaigns table."""
    if str(path).lower().endswith(".json"):
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise DataFileError(f"{path}: no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataFileError(f"{path}: not JSON: {exc}") from None
        records = data if isinstance(data, list) else [data]
        if not records or not all(isinstance(r, dict) for r in records):
            raise DataFileError(f"{path}: expected a JSON object with the campaign's fields")
        return pd.DataFrame(records).astype(object)
    return read_table(path)


def count_rows(path: Path) -> int | None:
    """Rows in a creators file, cheaply (for the progress bar); None when unknown."""
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
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
    model: str | None = None,
    top: int | None = None,
    say: Callable[[str], None] = print,
    progress: bool | None = None,
    workers: int | None = 1,
    chunk_rows: int = CHUNK_ROWS,
) -> BatchReport:
    """Score a creators file for the campaign(s); write the ranked and rejected rows atomically.

    `workers` processes score the chunks; 1 scores in this process; None picks
    one per core (up to MAX_WORKERS) when the file has more than one chunk.
    Where workers are spawned (not Linux), a script calling this with workers
    != 1 needs the `if __name__ == "__main__":` guard (serve.py has it).
    """
    report = BatchReport()
    start = time.perf_counter()
    recommender = load_model(model)
    report.add_time("load model", time.perf_counter() - start)
    try:
        checked = checked_campaigns(read_campaign(campaign_path))
    except ScoringError as exc:
        raise DataFileError(f"{campaign_path}: {exc}") from None
    campaigns = checked.valid
    report.campaigns = len(campaigns)
    for reason in checked.rejects.get(schema.REJECT_REASON, pd.Series(dtype=str)):
        say(f"skipped a campaign of {campaign_path}: {reason}")
    creators_path = Path(creators_path)
    total = count_rows(creators_path)
    bar = _progress_bar(total, progress)
    if workers is None:
        workers = min(MAX_WORKERS, os.cpu_count() or 1) if (total or 0) > chunk_rows else 1

    scored_parts: list[pd.DataFrame] = []
    reject_parts: list[pd.DataFrame] = []
    seen: set[tuple[str, ...]] = set()
    pending: deque[Future[tuple[pd.DataFrame, float]]] = deque()

    def collect() -> None:
        scored, seconds = pending.popleft().result()
        report.add_time("score", seconds)  # summed over workers, which overlap the reading
        if top is not None:  # keep memory bounded: a campaign's best `top` of each chunk
            scored = rank(scored, top)
        scored_parts.append(scored)

    chunks = read_chunks(creators_path, chunk_rows)
    with _scorer(recommender, workers) as submit:
        while True:
            tick = time.perf_counter()
            chunk = next(chunks, None)
            report.add_time("read", time.perf_counter() - tick)
            if chunk is None:
                break
            report.rows_in += len(chunk)
            tick = time.perf_counter()
            chunk = _reject_seen(chunk, seen, reject_parts)
            try:
                pairs, rejects = candidate_pairs(chunk, campaigns)
            except ScoringError as exc:
                raise DataFileError(f"{creators_path}: {exc}") from None
            reject_parts.append(rejects)
            # Only rows that were valid block later duplicates.
            seen.update(_keys(pairs if "campaign_id" in chunk.columns else pairs[["creator_id"]]))
            report.add_time("validate", time.perf_counter() - tick)
            if len(pairs):
                pending.append(submit(pairs))
                while len(pending) > workers:  # at most one chunk waiting per worker
                    collect()
            if bar is not None:
                bar.update(len(chunk))
        while pending:
            collect()
    if bar is not None:
        bar.close()

    tick = time.perf_counter()
    rejected = pd.concat(reject_parts, ignore_index=True) if reject_parts else pd.DataFrame()
    if scored_parts:
        ranked = rank(pd.concat(scored_parts, ignore_index=True), top)
    else:
        ranked = pd.DataFrame(columns=list(schema.SCORED_COLUMNS))
    report.add_time("rank", time.perf_counter() - tick)
    tick = time.perf_counter()
    write_table(ranked, out_path)
    write_table(_reason_first(rejected), rejects_path)
    report.add_time("write", time.perf_counter() - tick)
    report.scored = int(pd.Series(ranked["creator_id"]).size)
    report.rejected = len(rejected)
    dropped = "" if top is None else f" (kept the best {top} per campaign)"
    say(
        f"{report.rows_in:,} creator rows: {report.scored:,} scored rows{dropped} "
        f"for {report.campaigns} campaign(s) -> {out_path}; "
        f"{report.rejected:,} rejected -> {rejects_path}"
    )
    return report


@contextmanager
def _scorer(
    recommender: Recommender, workers: int
) -> Iterator[Callable[[pd.DataFrame], Future[tuple[pd.DataFrame, float]]]]:
    """submit(pairs) -> a future of (score_pairs(recommender, pairs), seconds), here or in `workers`
    processes. On Linux they are forked, which takes milliseconds where spawning
    took 3 s of imports; the workers walk trees without OpenMP (not fork-safe)."""
    if workers <= 1:

        def here(pairs: pd.DataFrame) -> Future[tuple[pd.DataFrame, float]]:
            done: Future[tuple[pd.DataFrame, float]] = Future()
            done.set_result(_timed_score(recommender, pairs))
            return done

        yield here
        return
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn"),
        initializer=_start_worker,
        initargs=(recommender,),
    ) as pool:
        yield lambda pairs: pool.submit(_score_in_worker, pairs)


_worker_model: Recommender | None = None


def _start_worker(recommender: Recommender) -> None:
    global _worker_model
    _worker_model = recommender
    from recommender.modeling import trees

    trees.use_threads(False)  # the workers already use every core


def _score_in_worker(pairs: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    assert _worker_model is not None, "worker started without a model"
    return _timed_score(_worker_model, pairs)


def _timed_score(recommender: Recommender, pairs: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    start = time.perf_counter()
    return score_pairs(recommender, pairs), time.perf_counter() - start


def show_top(scored_path: str | os.PathLike[str], n: int) -> str:
    """The best n rows of a scored file as a readable table, reasons on their own lines."""
    scored = read_table(scored_path).head(n)
    numbers = ["expected_roi", "expected_lift_usd", "lift_low_usd", "lift_high_usd", "cost_usd"]
    for column in numbers:
        scored[column] = pd.to_numeric(scored[column], errors="coerce")

    lines = []
    for row in scored.to_dict(orient="records"):
        roi = "?" if pd.isna(row["expected_roi"]) else f"{row['expected_roi']:.2f}"
        lines.append(
            f"{row['rank']:>3}. {row['creator_id']} ({row['tier']}, {row.get('niche', '')}): "
            f"ROI {roi}, lift {usd(row['expected_lift_usd'])} "
            f"[{usd(row['lift_low_usd'])}, {usd(row['lift_high_usd'])}] for {usd(row['cost_usd'])}"
            + (f"  flags: {row['flags']}" if row["flags"] else "")
        )
        lines.append(f"       {row['reasons']}")
    return "\n".join(lines)


def _reject_seen(
    chunk: pd.DataFrame, seen: set[tuple[str, ...]], reject_parts: list[pd.DataFrame]
) -> pd.DataFrame:
    """Rows whose id was in an earlier chunk go to the rejects; the rest come back."""
    key = [c for c in ("campaign_id", "creator_id") if c in chunk.columns]
    if "creator_id" not in key or not seen:
        return chunk
    earlier = pd.Series([k in seen for k in _keys(chunk)], index=chunk.index, dtype=bool)
    if earlier.any():
        reject_parts.append(
            chunk.loc[earlier].assign(
                **{schema.REJECT_REASON: f"{'+'.join(key)}: duplicate of an earlier row"}
            )
        )
    return chunk.loc[~earlier]


def _keys(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    """(campaign_id,) creator_id of each row, as text."""
    key = [c for c in ("campaign_id", "creator_id") if c in frame.columns]
    if "creator_id" not in key:
        return []
    columns = (frame[c].astype(str).str.strip().to_numpy(dtype=object) for c in key)
    return list(zip(*columns, strict=True))


def _reason_first(rejects: pd.DataFrame) -> pd.DataFrame:
    """The rejects with their reason as the first column (a header alone when none)."""
    if schema.REJECT_REASON not in rejects.columns:
        return pd.DataFrame(columns=[schema.REJECT_REASON])
    return rejects[
        [schema.REJECT_REASON] + [c for c in rejects.columns if c != schema.REJECT_REASON]
    ]


def _progress_bar(total: int | None, wanted: bool | None) -> Any:
    if wanted is False or (wanted is None and (total or 0) <= PROGRESS_FROM_ROWS):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=" rows", file=sys.stderr, desc="scoring")


def plan_file(args: Any) -> int:
    """serve.py plan: read the files, plan, write the chosen creators, the rejected rows,
    the summary (<out>.summary.json) and its figure (<out>.png), and print the summary."""
    from recommender.planning import EXCLUDED_FLAGS, Constraints, plan

    campaign = read_campaign(args.campaign)
    if len(campaign) != 1:
        raise DataFileError(f"{args.campaign}: plan takes exactly one campaign")
    creators = read_table(args.creators)
    try:  # the campaign's platform needs no rule: scoring rejects other platforms' rows
        constraints = Constraints(
            target_country=args.target_country,
            min_followers=args.min_followers,
            max_followers=args.max_followers,
            max_sponsorship_ratio=args.max_sponsorship,
            excluded_flags=() if args.include_flagged else EXCLUDED_FLAGS,
            max_niche_share=args.max_niche_share,
            max_segment_share=args.max_segment_share,
        )
        with native_stdout_silenced():
            result = plan(creators, campaign, args.budget, args.model, args.explore, constraints)
    except ValueError as exc:
        raise ScoringError(str(exc)) from None
    write_table(result.chosen, args.out)
    write_table(_reason_first(result.rejects), args.rejects)
    summary = result.summary
    summary_path = args.out.with_name(f"{args.out.stem}.summary.json")
    write_json(summary, summary_path)
    outputs = f"{args.out}, summary -> {summary_path}"
    if summary["creators"]:
        figure_path = args.out.with_name(f"{args.out.stem}.png")
        _save_plan_figure(result.chosen, summary, figure_path)
        outputs += f", figure -> {figure_path.name}"
    roi = "n/a" if summary["expected_roi"] is None else f"{summary['expected_roi']:.2f}"
    print(f"plan for {summary['campaign_id'] or args.campaign}: {summary['creators']} creators "
          f"({summary['exploration_creators']} exploring) -> {outputs}")  # fmt: skip
    print(f"  cost {usd(summary['total_cost_usd'])} of {usd(summary['budget_usd'])}; "
          f"expected lift {usd(summary['expected_lift_usd'])} "
          f"[{usd(summary['lift_low_usd'])}, {usd(summary['lift_high_usd'])}], "
          f"ROI {roi}, optimality gap <= {summary['optimality_gap']:.4%}")  # fmt: skip
    low, high = summary["largest_creators_interval_usd"]
    print(f"  the same budget on the {summary['largest_creators_count']} largest creators: "
          f"expected lift {usd(summary['largest_creators_expected_lift_usd'])} "
          f"[{usd(low)}, {usd(high)}]")  # fmt: skip
    left_out = ", ".join(f"{n:,} {reason}" for reason, n in summary["left_out"].items())
    print(f"  left out: {left_out or 'none'}")
    print(f"  {len(result.rejects):,} candidate rows rejected -> {args.rejects}")
    if summary["creators"]:
        return 0
    why = "every row was rejected" if result.candidates.empty else left_out or "none fits"
    print(f"error: no candidate could be hired within the budget ({why})", file=sys.stderr)
    return 1


def _save_plan_figure(chosen: pd.DataFrame, summary: dict[str, Any], path: Path) -> None:
    from recommender import plots

    figure = plots.plan_budget(chosen, summary)
    with atomic_path(path) as tmp_name:
        figure.savefig(tmp_name, dpi=100, format="png")
    plots.close([figure])


@contextmanager
def native_stdout_silenced() -> Iterator[None]:
    """Keep the process's stdout quiet while the plan is solved: whatever its options, HiGHS
    can print a debug line ("HighsMipSolverData::transformNewIntegerFeasibleSolution",
    ERGO-Code/HiGHS#2783) into the printed summary. For the command line only: it
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
        _flush_c_stdout()  # what native code buffered goes to /dev/null, not after
        os.dup2(saved, 1)
        os.close(saved)


def _flush_c_stdout() -> None:
    with suppress(OSError, AttributeError):  # no C library to ask
        ctypes.CDLL(None).fflush(None)
