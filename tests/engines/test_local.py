"""Scoring files in chunks, here or in worker processes, and planning over a file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pandas as pd
import pytest
from helpers import CAMPAIGN

from recommender.engines.local import native_stdout_silenced, plan_file, score_file
from recommender.scoring.planning import Constraints


@pytest.mark.parametrize("per_row_campaigns", [False, True])
def test_worker_processes_give_the_same_files(
    candidate_files: Path, model_dir: Path, tmp_path: Path, per_row_campaigns: bool
):
    creators = pd.read_csv(candidate_files / "creators.csv", dtype=str, keep_default_na=False)
    # A duplicate in a later chunk, of a row in the first; and one of a broken row.
    creators = pd.concat([creators, creators.iloc[[5, 10]]], ignore_index=True)
    campaign = candidate_files / "campaign.json"
    if per_row_campaigns:
        creators["campaign_id"] = ["k1", "k2"] * (len(creators) // 2) + ["k1"] * (len(creators) % 2)
        campaign = candidate_files / "campaigns.jsonl"
        campaign.write_text(
            "\n".join(json.dumps({**CAMPAIGN, "campaign_id": c}) for c in ("k1", "k2"))
        )
    creators.to_csv(candidate_files / "chunked.csv", index=False)
    outputs = []
    # Here; forked from this process; forked from the worker server, loading the model file.
    for workers, preloaded in ((1, False), (2, False), (2, True)):
        name = f"{workers}{'-preloaded' if preloaded else ''}"
        out, rejects = tmp_path / f"scored{name}.csv", tmp_path / f"rejects{name}.csv"
        report = score_file(candidate_files / "chunked.csv", campaign, out, rejects, str(model_dir),
                            say=lambda _: None, workers=workers, chunk_rows=40,
                            preloaded_workers=preloaded)  # fmt: skip
        assert report.rows_in == len(creators) == report.scored + report.rejected
        assert report.model is not None and report.model.source == str(model_dir)
        outputs.append((out.read_bytes(), rejects.read_bytes()))
    assert outputs[0] == outputs[1] == outputs[2]
    rejected = pd.read_csv(tmp_path / "rejects2-preloaded.csv")["reject_reason"]
    key = "campaign_id+creator_id" if per_row_campaigns else "creator_id"
    # Copies of rows 0 and 5 are duplicates; the copy of broken row 10 is broken on its own.
    assert (rejected == f"{key}: duplicate of an earlier row").sum() == 2
    assert (rejected == "followers: must be >= 0 (got '-7')").sum() == 2


@pytest.mark.parametrize("source", ["csv", "parquet"])
def test_a_file_ranked_from_runs_on_disk_equals_one_ranked_in_memory(
    market, model_dir: Path, tmp_path: Path, source: str
):
    """Many chunks spill sorted runs to disk and merge them; one chunk ranks in memory.
    Every output format must come out byte for byte the same either way."""
    creators = market.creators.head(900).astype(object)
    creators.loc[3, "followers"] = "lots"
    creators = pd.concat([creators, creators.iloc[[7, 400]]], ignore_index=True)
    path = tmp_path / f"creators.{source}"
    (creators.to_csv(path, index=False) if source == "csv" else
     creators.astype(str).to_parquet(path, index=False))  # fmt: skip
    campaigns = tmp_path / "campaigns.csv"
    pd.DataFrame({"campaign_id": ["a", "b", "c"], "niche": ["pet", "beauty", "food"],
                  "platform": ["", "instagram", ""]}).to_csv(campaigns, index=False)  # fmt: skip
    for ext in ("csv", "tsv", "parquet", "jsonl", "json"):
        written = []
        for rows in (100, 10**6):
            folder = tmp_path / f"{ext}{rows}"
            report = score_file(path, campaigns, folder / f"scored.{ext}", folder / "rejects.csv",
                                str(model_dir), say=lambda _: None, chunk_rows=rows,
                                workers=1, show=3)  # fmt: skip
            written.append([(p.name, p.read_bytes() if "summary" not in p.name else b"")
                            for p in sorted(folder.iterdir())])  # fmt: skip
            assert report.best["rank"].tolist() == [1, 2, 3]
        assert written[0] == written[1], ext  # and no run was left beside them
    scored = pd.read_json(tmp_path / "json100" / "scored.json", dtype={"creator_id": str})
    assert scored.groupby("campaign_id")["rank"].apply(list).map(
        lambda ranks: ranks == list(range(1, len(ranks) + 1))).all()  # fmt: skip


def test_parts_of_a_folder_with_other_columns_are_lined_up(market, model_dir, tmp_path):
    """A Parquet folder whose parts differ in columns: every column in the output, empty
    where a part lacks it; an input's own _-prefixed column is kept like any other."""
    creators = market.creators.head(300).astype(str)
    parts = tmp_path / "parts"
    parts.mkdir()
    creators.iloc[:150].assign(_notes="first").to_parquet(parts / "part-0.parquet", index=False)
    creators.iloc[150:].assign(loyalty="gold").to_parquet(parts / "part-1.parquet", index=False)
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    report = score_file(parts, tmp_path / "campaign.json", tmp_path / "scored.csv",
                        tmp_path / "rejects.csv", str(model_dir), say=lambda _: None,
                        chunk_rows=100)  # fmt: skip
    scored = pd.read_csv(tmp_path / "scored.csv", dtype=str, keep_default_na=False)
    assert report.scored == len(scored) == 300
    assert {"_notes", "loyalty"} <= set(scored.columns)
    by_id = scored.set_index("creator_id")
    first, second = creators["creator_id"].iloc[0], creators["creator_id"].iloc[200]
    assert (by_id.loc[first, "_notes"], by_id.loc[first, "loyalty"]) == ("first", "")
    assert (by_id.loc[second, "_notes"], by_id.loc[second, "loyalty"]) == ("", "gold")


def test_the_report_keeps_the_best_rows_it_wrote(candidate_files: Path, model_dir: Path):
    files = candidate_files
    out, rejects = files / "scored.csv", files / "rejects.csv"
    report = score_file(files / "creators.csv", files / "campaign.json", out, rejects,
                        str(model_dir), say=lambda _: None, show=4)  # fmt: skip
    written = pd.read_csv(out, dtype={"creator_id": str})
    assert report.best["creator_id"].tolist() == written["creator_id"].head(4).tolist()
    assert (report.rows_in, report.scored, report.rejected) == (201, 196, 5)
    assert {"read", "validate", "score", "rank and write"} <= set(report.seconds)


def test_rejects_of_a_long_file_come_in_file_order(market, model_dir: Path, tmp_path: Path):
    """Across chunks: a copy of an earlier valid row is a duplicate, a broken copy is
    rejected for its own problem, and the rejects file keeps the input's order."""
    creators = market.creators.head(120).astype(object).reset_index(drop=True)
    creators.loc[3, "followers"] = "-1"
    creators.loc[60] = creators.loc[1]  # a copy of a valid row, in the second chunk
    creators.loc[70] = creators.loc[2].copy()
    creators.loc[70, "avg_likes"] = "many"  # a broken copy
    creators.loc[110, "niche"] = ""
    creators.to_csv(tmp_path / "creators.csv", index=False)
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    score_file(tmp_path / "creators.csv", tmp_path / "campaign.json", tmp_path / "out.csv",
               tmp_path / "rejects.csv", str(model_dir), say=lambda _: None,
               chunk_rows=50)  # fmt: skip
    rejected = pd.read_csv(tmp_path / "rejects.csv", dtype=str)
    assert rejected["creator_id"].tolist() == creators.loc[[3, 60, 70, 110], "creator_id"].tolist()
    assert rejected["reject_reason"].tolist() == [
        "followers: must be >= 0 (got '-1')",
        "creator_id: duplicate of an earlier row",
        "avg_likes: not a number (got 'many')",
        "niche: required value missing",
    ]


def test_a_copy_of_a_row_on_another_platform_is_a_duplicate(market, model_dir, tmp_path):
    """As within one chunk: the first row is valid but not for this campaign; its copy in a
    later chunk is a duplicate of it."""
    creators = market.creators.head(60).astype(object).reset_index(drop=True)
    elsewhere = creators.index[creators["platform"] != "tiktok"][0]
    creators.loc[59] = creators.loc[elsewhere]
    creators.to_csv(tmp_path / "creators.csv", index=False)
    (tmp_path / "campaign.json").write_text(json.dumps({**CAMPAIGN, "platform": "tiktok"}))
    score_file(tmp_path / "creators.csv", tmp_path / "campaign.json", tmp_path / "out.csv",
               tmp_path / "rejects.csv", str(model_dir), say=lambda _: None,
               chunk_rows=50)  # fmt: skip
    rejected = pd.read_csv(tmp_path / "rejects.csv", dtype=str)
    copy = rejected[rejected["creator_id"] == creators.loc[elsewhere, "creator_id"]]
    assert copy["reject_reason"].tolist()[0].startswith("platform: the campaign wants tiktok")
    assert copy["reject_reason"].tolist()[1] == "creator_id: duplicate of an earlier row"


def test_plan_file_writes_the_plan_and_says_where(candidate_files: Path, model_dir: Path):
    files = candidate_files
    result, where = plan_file(files / "creators.csv", files / "campaign.json", 1_000,
                              files / "plan.csv", files / "plan.rejects.csv", str(model_dir),
                              constraints=Constraints())  # fmt: skip
    assert where.summary == files / "plan.summary.json" and where.figure == files / "plan.png"
    assert json.loads(where.summary.read_text()) == result.summary
    assert len(pd.read_csv(where.chosen)) == len(result.chosen) == result.summary["creators"]
    assert pd.read_csv(where.rejects)["reject_reason"].tolist() == [
        "followers: must be >= 0 (got '-7')",
        "platform: must be one of instagram, tiktok, youtube (got 'myspace')",
        "avg_likes: not a number (got 'lots')",
        "audience_female_share: must be <= 1; a share is 0.625 or 62.5% (got '1.4')",
        "creator_id: duplicate of an earlier row",
    ]


def test_native_prints_stay_out_of_the_summary(capfd):
    import os

    with native_stdout_silenced():
        os.write(1, b"HighsMipSolverData::transformNewIntegerFeasibleSolution\n")
    os.write(1, b"summary\n")
    assert capfd.readouterr().out == "summary\n"


def child_pids(pid: int) -> set[int]:
    """The processes `pid` started that are still running (Linux: read from /proc)."""
    children: set[int] = set()
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        with suppress(OSError):  # a thread that just ended
            children.update(int(child) for child in listing.read_text().split())
    return {child for child in children if running(child)}


def running(pid: int) -> bool:
    """Whether `pid` is alive: a zombie has ended, only nobody has reaped it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads processes from /proc")
@pytest.mark.parametrize("guard", ["linux", "watchdog", "preloaded"])
def test_workers_end_when_the_scoring_process_is_killed(
    market, model_dir: Path, tmp_path: Path, guard: str
):
    """kill -9 of a scoring run leaves no worker behind (they used to wait on it forever),
    by Linux's parent-death signal or by the watchdog thread used where there is none;
    preloaded workers, children of the worker server, end with it as it ends with the run."""
    copies = [market.creators.assign(creator_id=market.creators["creator_id"] + f"-{n}")
              for n in range(10)]  # fmt: skip
    pd.concat(copies, ignore_index=True).to_csv(tmp_path / "big.csv", index=False)
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    script = (
        "import sys; from recommender.engines import local; "
        + ("local._libc.die_with_parent = lambda: False; " if guard == "watchdog" else "")
        + "local.score_file(*sys.argv[1:6], say=print, progress=False, workers=2, chunk_rows=500"
        + (", preloaded_workers=True)" if guard == "preloaded" else ")")
    )
    files = ["big.csv", "campaign.json", "out.csv", "rejects.csv", str(model_dir)]
    scoring = subprocess.Popen([sys.executable, "-c", script, *files], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    started: set[int] = set()  # every process under the run (the worker server too)
    try:
        workers_started(scoring, started, forked_by_server=guard == "preloaded")
        scoring.kill()
        scoring.wait()
        assert all_ended(started), "processes outlived the killed scoring process"
    finally:
        end_what_stayed(scoring, started)


def workers_started(scoring: subprocess.Popen, started: set[int], forked_by_server: bool) -> None:
    """Wait until the run `scoring` has two workers, adding every process under it to
    `started`; its workers are its grandchildren when forked by the worker server."""
    workers: set[int] = set()
    deadline = time.monotonic() + 120
    while len(workers) < 2 and scoring.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        children = child_pids(scoring.pid)
        grandchildren = set().union(*map(child_pids, children))
        started |= children | grandchildren
        workers = grandchildren if forked_by_server else children
    assert len(workers) == 2 and scoring.poll() is None, scoring.communicate()


def all_ended(pids: set[int]) -> bool:
    """Whether every process of `pids` ends within ten seconds."""
    deadline = time.monotonic() + 10
    while any(map(running, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(map(running, pids))


def end_what_stayed(scoring: subprocess.Popen, started: set[int]) -> None:
    for pid in started:  # only the processes this test started, should they have stayed
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    scoring.kill()
    scoring.communicate()


def test_with_preloaded_workers_the_reading_process_imports_no_model_library(
    candidate_files: Path, model_dir: Path
):
    """scikit-learn, LightGBM and numba take a second and more to import: the worker
    server imports them while the process that reads goes on without them."""
    script = (
        "import sys\n"
        "from recommender.engines.local import score_file\n"
        "if __name__ == '__main__':\n"
        "    report = score_file(*sys.argv[1:6], say=print, workers=2, chunk_rows=40,\n"
        "                        preloaded_workers=True)\n"
        "    print('scored', report.scored, 'with', report.model.source)\n"
        "    print('imported', sorted(m for m in ('sklearn', 'lightgbm', 'numba', 'scipy')\n"
        "                             if m in sys.modules))\n"
    )
    (candidate_files / "job.py").write_text(script)
    files = ["creators.csv", "campaign.json", "out.csv", "rejects.csv", str(model_dir)]
    done = subprocess.run([sys.executable, "job.py", *files], cwd=candidate_files,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"scored 196 with {model_dir}" in done.stdout
    assert "imported []" in done.stdout
    assert done.stdout.index("scoring with") < done.stdout.index("creator rows:")


@pytest.mark.parametrize("fault", ["missing", "damaged"])
def test_preloaded_workers_say_a_model_that_cannot_load_and_write_nothing(
    candidate_files: Path, model_dir: Path, tmp_path: Path, fault: str
):
    """A model that is not there is said before the file is read; one that does not
    unpickle, by the worker that loads it, in the same one line."""
    import shutil

    from recommender.errors import ModelNotFound
    from recommender.mlops.model_store import model_file

    model = tmp_path / "model"
    if fault == "damaged":
        shutil.copytree(model_dir, model)
        model_file(model).write_bytes(b"not a pickle")
    out = candidate_files / "scored.csv"
    expected = "no trained model here" if fault == "missing" else "not a readable model file"
    with pytest.raises(ModelNotFound, match=expected):
        score_file(candidate_files / "creators.csv", candidate_files / "campaign.json", out,
                   candidate_files / "rejects.csv", model, say=lambda _: None,
                   workers=2, chunk_rows=40, preloaded_workers=True)  # fmt: skip
    assert not out.exists() and not (candidate_files / "rejects.csv").exists()


def test_preloaded_workers_take_the_jobs_folder_and_environment(
    candidate_files: Path, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The worker server may have started earlier, elsewhere: the champion (None), found
    from the job's working folder and environment, is the one the workers load."""
    import shutil

    from recommender.errors import ModelNotFound

    shutil.copytree(model_dir, tmp_path / "job" / "models" / "best")
    monkeypatch.chdir(tmp_path / "job")
    for name in ("CREATOR_RECOMMENDER_MODEL", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CREATOR_RECOMMENDER_CHAMPION_DIR", "models/best")
    files = [candidate_files / "creators.csv", candidate_files / "campaign.json",
             tmp_path / "scored.csv", tmp_path / "rejects.csv"]  # fmt: skip
    report = score_file(*files, None, say=lambda _: None, workers=2, chunk_rows=40,
                        preloaded_workers=True)  # fmt: skip
    assert report.scored == 196 and report.model is not None
    assert report.model.source == str(tmp_path / "job" / "models" / "best")  # the job's folder
    monkeypatch.setenv("CREATOR_RECOMMENDER_CHAMPION_DIR", "models/none-yet")
    with pytest.raises(ModelNotFound, match="no champion yet"):
        score_file(*files, None, say=lambda _: None, workers=2, chunk_rows=40,
                   preloaded_workers=True)  # fmt: skip


def test_chunks_scored_by_two_models_stop_the_run(tmp_path: Path):
    """Workers load the model file each: a promotion between their loads is caught."""
    from concurrent.futures import Future

    from recommender.engines.local import BatchReport, _ChunkScoring
    from recommender.errors import ScoringError
    from recommender.mlops.model_store import ModelIdentity
    from recommender.scoring import empty_scored

    def scored_by(trained_at: str) -> Future:
        done: Future = Future()
        identity = ModelIdentity("models/champion", None, None, 5, trained_at)
        done.set_result((empty_scored(["creator_id"]), 0.1, identity))
        return done

    said: list[str] = []
    chunks = _ChunkScoring(pd.DataFrame(), None, BatchReport(), tmp_path, said.append, ahead=2)
    chunks.pending.extend([scored_by("2026-11-01"), scored_by("2026-11-01")])
    chunks.finish()
    assert said == ["scoring with an unregistered model (format 5, trained 2026-11-01) "
                    "from models/champion"]  # fmt: skip
    chunks.pending.append(scored_by("2026-11-27"))
    with pytest.raises(ScoringError, match="the model changed while this file was scored"):
        chunks.finish()


def test_a_worker_whose_job_is_already_gone_ends_at_once():
    """The job's process can end before a worker (forked from the worker server, not from
    the job) starts watching it."""
    script = ("from recommender.engines._worker import die_with; die_with(-1); "
              "print('alive')")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (1, ""), done.stderr


def test_a_worker_killed_from_outside_is_one_line_and_writes_nothing(
    candidate_files: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    import recommender.engines.local as local
    from recommender.errors import ScoringError

    monkeypatch.setattr(local, "scored_rows", lambda *args: os._exit(9))  # OOM killer
    out = candidate_files / "scored.csv"
    with pytest.raises(ScoringError, match="a scoring worker process died"):
        score_file(candidate_files / "creators.csv", candidate_files / "campaign.json", out,
                   candidate_files / "rejects.csv", model_dir, say=lambda _: None, workers=2,
                   chunk_rows=40)  # fmt: skip
    assert not out.exists()


# --- a run's files are one set (issue 25) -------------------------------------------


@pytest.mark.parametrize("command", ["score", "plan"])
def test_a_rename_failing_midway_puts_back_what_the_run_had_replaced(
    candidate_files: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch, command: str
):
    """A full disk at the second rename: the first file replaced is put back, so the
    folder holds the earlier run's files, all of them, and nothing else."""
    from helpers import files_in, rename_fails

    from recommender.errors import DataFileError

    out = candidate_files / "out"
    out.mkdir()
    for name in ("s.csv", "s.rejects.csv", "s.summary.json", "s.png"):
        (out / name).write_text(f"the earlier run's {name}\n")
    before = files_in(out)
    rename_fails(monkeypatch, out, 2)
    files = (candidate_files / "creators.csv", candidate_files / "campaign.json")
    with pytest.raises(Exception) as info:  # the type is checked below
        if command == "score":
            score_file(*files, out / "s.csv", out / "s.rejects.csv", model_dir, say=print)
        else:
            plan_file(*files, 1_000, out / "s.csv", out / "s.rejects.csv", model_dir)
    assert files_in(out) == before
    assert isinstance(info.value, DataFileError)
    assert "s.rejects.csv: cannot be put in place: No space left on device" in str(info.value)


def test_a_plan_with_no_creator_leaves_no_earlier_figure(candidate_files: Path, model_dir: Path):
    """A plan without creators draws no figure; the earlier plan's would describe another."""
    files = (candidate_files / "creators.csv", candidate_files / "campaign.json")
    outputs = (candidate_files / "plan.csv", candidate_files / "plan.rejects.csv")
    _, where = plan_file(*files, 1_000, *outputs, model_dir)
    assert where.figure is not None and where.figure.is_file()
    result, where = plan_file(*files, 0.01, *outputs, model_dir)
    assert result.summary["creators"] == 0 and where.figure is None
    assert not (candidate_files / "plan.png").exists()
    assert json.loads((candidate_files / "plan.summary.json").read_text())["creators"] == 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads processes from /proc")
def test_ctrl_c_ends_a_scoring_run_in_one_line_with_its_workers(
    market, model_dir: Path, tmp_path: Path
):
    """Ctrl-C, sent as a terminal sends it (to the whole process group), while workers
    score: one line, exit code 130, no worker left, the earlier files as they were."""
    copies = [market.creators.assign(creator_id=market.creators["creator_id"] + f"-{n}")
              for n in range(20)]  # fmt: skip
    pd.concat(copies, ignore_index=True).to_csv(tmp_path / "big.csv", index=False)
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    out = tmp_path / "out"
    out.mkdir()
    for name in ("s.csv", "s.rejects.csv", "s.summary.json"):
        (out / name).write_text("earlier\n")
    command = [str(Path(sys.executable).parent / "creator-recommender"), "score", "--creators",
               "big.csv", "--campaign", "campaign.json", "--model", str(model_dir), "--out",
               "out/s.csv", "--workers", "2"]  # fmt: skip
    scoring = subprocess.Popen(command, cwd=tmp_path, start_new_session=True, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    started: set[int] = set()
    try:
        workers_started(scoring, started, forked_by_server=True)
        os.killpg(scoring.pid, signal.SIGINT)
        _, err = scoring.communicate(timeout=60)
        assert scoring.returncode == 130, err
        assert err.splitlines() == [
            "error: interrupted; nothing was written: out/s.csv, out/s.rejects.csv and "
            "out/s.summary.json are as they were"
        ]
        assert all_ended(started), "processes outlived the interrupted run"
        assert {p.name: p.read_text() for p in out.iterdir()} == dict.fromkeys(
            ("s.csv", "s.rejects.csv", "s.summary.json"), "earlier\n"
        )
    finally:
        end_what_stayed(scoring, started)
