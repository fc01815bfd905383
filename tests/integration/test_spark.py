"""The Spark engine in local mode: the local engine's results, row for row, also from
parts that disagree on their columns; one-line faults, before any work where they can be
known; outputs that never destroy what the engine did not write, and a killed job leaves
--out as it was; the pyfunc as a Spark UDF."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import one_line_error

from recommender.cli import main
from recommender.engines import spark as spark_engine
from recommender.engines.local import score_file
from recommender.engines.spark import score_on_spark, spark_session
from recommender.errors import DataFileError, MissingExtra

CLI = Path(sys.executable).parent / "creator-recommender"
COMPARED = ["campaign_id", "creator_id", "rank", "score", "fit_score", "expected_lift_usd",
            "lift_low_usd", "lift_high_usd", "cost_usd", "expected_roi", "tier", "flags",
            "reasons"]  # fmt: skip


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    session = spark_session("local[2]")
    yield session
    session.stop()


def awkward_candidates(market, folder: Path, per_row: bool) -> tuple[Path, Path, pd.DataFrame]:
    """A Parquet folder of three parts: many campaigns, bad rows, and duplicates (in the
    same part and across parts, one of them on another platform than its campaign's)."""
    campaigns = market.campaigns.head(8).astype(object)
    campaigns.loc[2, "platform"] = "tiktok"
    creators = market.creators.head(700).astype(str)
    creators.loc[3, "followers"] = "lots"
    creators.loc[4, "platform"] = "myspace"
    creators.loc[5, "audience_female_share"] = "1.4"
    creators["loyalty_tier"] = [f"t{i % 3}" for i in range(len(creators))]  # an extra column
    if per_row:
        rng = np.random.default_rng(0)
        creators["campaign_id"] = rng.choice(campaigns["campaign_id"], len(creators))
        creators.loc[6, "campaign_id"] = "no-such-campaign"
    copies = creators.iloc[[10, 11, 300, 650, 3]].assign(followers=["1", "2", "3", "4", "5"])
    creators = pd.concat([creators, copies], ignore_index=True)
    parts = folder / "creators.parquet"
    parts.mkdir()
    for i, start in enumerate((0, 250, 500)):
        end = None if start == 500 else start + 250
        creators.iloc[start:end].to_parquet(parts / f"part-{i:05d}.parquet", index=False)
    campaigns_path = folder / "campaigns.csv"
    campaigns.to_csv(campaigns_path, index=False)
    return parts, campaigns_path, creators


@pytest.mark.slow
@pytest.mark.parametrize(("per_row", "source"), [(True, "parquet"), (False, "csv")])
def test_spark_scores_equal_the_local_engines_row_for_row(
    spark, market, model_dir: Path, tmp_path: Path, per_row: bool, source: str
):
    parts, campaigns, creators = awkward_candidates(market, tmp_path, per_row)
    if source == "csv":  # one CSV file, semicolon-delimited, with display headers
        parts = tmp_path / "creators.csv"
        creators.rename(columns={"avg_likes": "Avg. Likes", "creator_id": "Creator ID"}).to_csv(
            parts, index=False, sep=";"
        )
    report = score_on_spark(parts, campaigns, tmp_path / "spark", model=model_dir, spark=spark,
                            say=lambda _: None)  # fmt: skip
    score_file(parts, campaigns, tmp_path / "local.parquet", tmp_path / "local.rejects.parquet",
               model_dir, say=lambda _: None, chunk_rows=200)  # fmt: skip
    on_spark = pd.read_parquet(tmp_path / "spark")
    local = pd.read_parquet(tmp_path / "local.parquet")
    assert list(on_spark.columns) == list(local.columns)
    assert len(on_spark) == report.scored == len(local) > 400
    pd.testing.assert_frame_equal(on_spark[COMPARED], local[COMPARED], check_dtype=False)
    # The folder is written best first, campaign by campaign, as the local file is.
    assert on_spark["rank"].tolist() == local["rank"].tolist()

    spark_rejects = pd.read_parquet(tmp_path / "spark.rejects")
    local_rejects = pd.read_parquet(tmp_path / "local.rejects.parquet")
    as_given = ["creator_id", "followers", "reject_reason"]
    assert report.rejected == len(local_rejects) == len(spark_rejects) >= 6
    assert (spark_rejects[as_given].sort_values(as_given).values.tolist()
            == local_rejects[as_given].sort_values(as_given).values.tolist())  # fmt: skip
    assert report.rows_in == len(creators)
    summary = json.loads((tmp_path / "spark" / "_summary.json").read_text())
    assert (summary["rows_in"], summary["scored"], summary["rejected"]) == (
        report.rows_in, report.scored, report.rejected)  # fmt: skip
    assert summary["model"]["source"] == str(model_dir)
    duplicates = spark_rejects["reject_reason"].str.contains("duplicate of an earlier row")
    assert duplicates.sum() == 4  # the copies of rows 10, 11, 300 and 650; 3's original is broken


@pytest.mark.slow
def test_spark_judges_every_spelling_of_an_account_as_the_local_engine(
    spark, market, model_dir: Path, tmp_path: Path
):
    """Copies of an account spelled otherwise ('@NAME', a zero-width space, a Cyrillic letter)
    get one partition key, so they meet where validation calls them duplicates."""
    from recommender.engines.spark import KEY, _key_column

    ids = ["cr0000010", "@CR0000010", "cr00000\u200b10", "\u0441r0000010", "cr0000011"]
    cells = spark.createDataFrame(pd.DataFrame({"_c0": ["k1"] * 5, "_c1": ids}))
    for headers in (["creator_id"], ["campaign_id", "creator_id"]):
        named = cells if len(headers) == 2 else cells.select(cells["_c1"].alias("_c0"))
        keys = [row[KEY] for row in named.withColumn(KEY, _key_column(headers)).collect()]
        assert len(set(keys[:4])) == 1 and keys[4] != keys[0], keys

    creators = market.creators.head(300).astype(str)
    copies = creators.iloc[[10, 10, 10, 200]].assign(creator_id=[*ids[1:4], "CR0000200"])
    rows = pd.concat([creators, copies], ignore_index=True)
    parts = tmp_path / "creators.parquet"
    parts.mkdir()
    for i, start in enumerate((0, 150, 300)):  # the copies in a part of their own
        rows.iloc[start : start + 150].to_parquet(parts / f"part-{i}.parquet", index=False)
    campaigns = tmp_path / "campaigns.csv"
    market.campaigns.head(2).drop(columns="platform").to_csv(campaigns, index=False)  # any
    score_on_spark(parts, campaigns, tmp_path / "spark", model=model_dir, spark=spark,
                   say=lambda _: None)  # fmt: skip
    score_file(parts, campaigns, tmp_path / "local.parquet", tmp_path / "local.rejects.parquet",
               model_dir, say=lambda _: None)  # fmt: skip
    on_spark = pd.read_parquet(tmp_path / "spark.rejects").sort_values("creator_id")
    local = pd.read_parquet(tmp_path / "local.rejects.parquet").sort_values("creator_id")
    assert (
        on_spark["creator_id"].tolist()
        == local["creator_id"].tolist()
        == sorted(copies["creator_id"])
    )
    assert on_spark["reject_reason"].tolist() == local["reject_reason"].tolist()
    assert (
        on_spark["reject_reason"]
        .str.startswith("creator_id: duplicate of an earlier row (got")
        .all()
    )


@pytest.mark.slow
def test_spark_with_top_keeps_each_campaigns_best(spark, market, model_dir: Path, tmp_path):
    parts, campaigns, _ = awkward_candidates(market, tmp_path, per_row=False)
    score_on_spark(parts, campaigns, tmp_path / "top", model=model_dir, spark=spark, top=5,
                   say=lambda _: None)  # fmt: skip
    score_file(parts, campaigns, tmp_path / "top.csv", tmp_path / "rejects.csv", model_dir,
               top=5, say=lambda _: None)  # fmt: skip
    on_spark, local = pd.read_parquet(tmp_path / "top"), pd.read_csv(tmp_path / "top.csv")
    assert on_spark.groupby("campaign_id").size().max() == 5
    assert on_spark["creator_id"].tolist() == local["creator_id"].astype(str).tolist()


def run_cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True,
                          timeout=300)  # fmt: skip


@pytest.mark.slow
def test_whole_input_problems_are_one_line_before_spark_starts(
    market, model_dir: Path, tmp_path: Path
):
    parts, campaigns, creators = awkward_candidates(market, tmp_path, per_row=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    thin = tmp_path / "thin.parquet"
    creators.drop(columns=["followers", "niche"]).to_parquet(thin, index=False)
    cases = [
        (tmp_path / "nowhere", model_dir, "no such file or folder"),
        (empty, model_dir, "an empty folder"),
        (thin, model_dir, "missing required creators column(s): followers, niche"),
        (parts, tmp_path / "no-model", "no trained model here"),
        (parts, model_dir, "the output would replace the creators file", parts),
    ]
    for source, model, message, *out in cases:
        start = time.monotonic()
        target = out[0] if out else tmp_path / "out"
        done = run_cli("score", "--engine", "spark", "--creators", source, "--campaign",
                       campaigns, "--model", model, "--out", target)  # fmt: skip
        one_line_error(done.returncode, done.stderr, message)
        assert time.monotonic() - start < 30  # no JVM was started for it
        assert not (tmp_path / "out").exists()
    assert len(list(parts.iterdir())) == 3  # the input, still there


@pytest.mark.slow
def test_a_killed_spark_job_leaves_the_earlier_output(market, model_dir: Path, tmp_path: Path):
    parts, campaigns, _ = awkward_candidates(market, tmp_path, per_row=False)
    out = tmp_path / "scored"
    done = run_cli("score", "--engine", "spark", "--master", "local[2]", "--creators", parts,
                   "--campaign", campaigns, "--model", model_dir, "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    job = subprocess.Popen([str(CLI), "score", "--engine", "spark", "--master", "local[2]",
                            "--creators", str(parts), "--campaign", str(campaigns),
                            "--model", str(model_dir), "--out", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".scored.tmp-*/stage")) and time.monotonic() < deadline:
        time.sleep(0.05)  # killed once it has begun writing
    assert job.poll() is None, "the job ended before it could be killed"
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not (tmp_path / "scored.rejects").joinpath("_temporary").exists()


@pytest.mark.slow
def test_the_mlflow_model_scores_pairs_as_a_spark_udf(spark, market, model_dir: Path):
    import mlflow.pyfunc

    from recommender.contract import PREDICTION_COLUMNS
    from recommender.mlops.model_store import load_model
    from recommender.mlops.signature import as_model_input
    from recommender.scoring import candidate_pairs, checked_campaigns

    campaigns = checked_campaigns(market.campaigns.head(2)).valid
    pairs, _ = candidate_pairs(market.creators.head(40), campaigns)
    frame = spark.createDataFrame(as_model_input(pairs))
    types = {"campaign_id": "string", "creator_id": "string", "tier": "string"}
    result_type = ", ".join(f"{c} {types.get(c, 'double')}" for c in PREDICTION_COLUMNS)
    predict = mlflow.pyfunc.spark_udf(spark, str(model_dir), result_type=result_type,
                                      env_manager="local")  # fmt: skip
    from pyspark.sql import functions as F

    scored = frame.withColumn("p", predict(F.struct(*frame.columns))).select("p.*").toPandas()
    expected = load_model(model_dir).predict(pairs)
    np.testing.assert_allclose(scored["expected_roi"], expected["expected_roi"], rtol=1e-9)
    assert scored["creator_id"].tolist() == expected["creator_id"].tolist()


# --- outputs that would destroy what the engine did not write; parts that disagree ---------


def creators_part(ids: list[str], **columns: list[object]) -> pd.DataFrame:
    """Valid pet-niche Instagram creators with these ids, `columns` given as they differ."""
    rows = len(ids)
    given: dict[str, list[object]] = {
        "creator_id": list(ids), "platform": ["instagram"] * rows,
        "followers": [1_000 * (i + 1) for i in range(rows)],
        "avg_likes": [50.0 + 10 * i for i in range(rows)],
        "avg_comments": [3.0 + i for i in range(rows)], "niche": ["pet"] * rows,
    }  # fmt: skip
    return pd.DataFrame({**given, **columns})


def tiny_input(folder: Path) -> tuple[Path, Path]:
    """A folder of two Parquet parts of three creators each, and a campaign file beside it."""
    parts = folder / "creators"
    parts.mkdir(parents=True)
    creators_part(["a", "b", "c"]).to_parquet(parts / "part-0.parquet", index=False)
    creators_part(["d", "e", "f"]).to_parquet(parts / "part-1.parquet", index=False)
    campaign = folder / "campaign.json"
    campaign.write_text(json.dumps({"campaign_id": "k1", "niche": "pet"}))
    return parts, campaign


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def no_spark(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting Spark fails the test: what is checked here is checked before it starts."""

    def started(*_: object) -> None:
        raise AssertionError("Spark was started")

    monkeypatch.setattr(spark_engine, "spark_session", started)


def test_outputs_that_would_destroy_what_it_did_not_write_are_refused_before_spark(
    tmp_path: Path, no_spark: None
):
    parts, campaign = tiny_input(tmp_path / "data")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's own")
    report = tmp_path / "report.pdf"
    report.write_text("a file")
    model = tmp_path / "models" / "champion"
    model.mkdir(parents=True)
    (model / "MLmodel").write_text("a model")
    not_ours = "not an earlier output of the Spark engine"
    cases = [
        (mine, None, f"the output would replace this folder, which is {not_ours}"),
        (tmp_path / "data", None, f"holding the creators file ({parts})"),  # the input's parent
        (parts / "scored", None, "the output would be written inside the creators file"),
        (tmp_path / "out", mine, f"the rejects folder would replace this folder, which is "
         f"{not_ours}"),
        (report, None, "is a file; the Spark engine writes a folder here"),
        (tmp_path / "out", tmp_path / "out" / "rejects", "the rejects folder would be written "
         "inside the output"),
        (tmp_path / "models", None, "would replace a folder holding the model"),
        (tmp_path / "x", campaign, "the rejects folder would replace the campaign file"),
    ]  # fmt: skip
    before = tree(tmp_path)
    for out, rejects, message in cases:
        with pytest.raises(DataFileError, match=re.escape(message)):
            score_on_spark(parts, campaign, out, rejects, model=model, say=lambda _: None)
    assert tree(tmp_path) == before
    assert not (tmp_path / "out").exists()


def test_remote_outputs_are_refused_by_their_place_inside_or_around_an_input(
    tmp_path: Path, no_spark: None
):
    _, campaign = tiny_input(tmp_path)
    cases = [
        ("s3a://bucket/lists", "would replace a folder holding the creators file"),
        ("s3a://bucket/lists/creators/scored", "would be written inside the creators file"),
        ("S3A://bucket/lists/./creators/", "would replace the creators file"),
    ]
    for out, message in cases:
        with pytest.raises(DataFileError, match=re.escape(message)):
            score_on_spark("s3a://bucket/lists/creators", campaign, out, say=lambda _: None)


def test_a_part_that_cannot_be_scored_is_refused_naming_it_before_spark(
    tmp_path: Path, no_spark: None
):
    parts, campaign = tiny_input(tmp_path)
    thin = parts / "part-2.parquet"
    creators_part(["g"]).drop(columns=["niche"]).to_parquet(thin, index=False)
    with pytest.raises(DataFileError, match=re.escape(
            f"{thin}: missing required creators column(s): niche")):  # fmt: skip
        score_on_spark(parts, campaign, tmp_path / "out", say=lambda _: None)
    thin.write_bytes(b"PAR1 not a Parquet file")
    with pytest.raises(DataFileError, match=re.escape(f"{thin}: cannot read as parquet")):
        score_on_spark(parts, campaign, tmp_path / "out", say=lambda _: None)
    nested = tmp_path / "nested"
    shutil.copytree(parts, nested / "old")
    with pytest.raises(DataFileError, match=re.escape("old: a folder inside the input folder")):
        score_on_spark(nested, campaign, tmp_path / "out", say=lambda _: None)


@pytest.mark.slow
def test_parts_that_disagree_score_as_the_local_engine_scores_them(
    spark, model_dir: Path, tmp_path: Path
):
    """followers int64 in one part, text in another, double in a third; columns in one part
    only; and an earlier output kept inside the input folder, which is not input."""
    parts, campaign = tmp_path / "parts", tmp_path / "campaign.json"
    campaign.write_text(json.dumps({"campaign_id": "k1", "niche": "pet"}))
    parts.mkdir()
    creators_part(["a", "b", "c"]).to_parquet(parts / "part-0.parquet", index=False)
    texts = creators_part(["d", "e", "f"], followers=["2000", "12.5K", "lots"],
                          following=[10, 20, 30], loyalty=["x", "y", "z"])  # fmt: skip
    texts.to_parquet(parts / "part-1.parquet", index=False)
    creators_part(["g", "h", "i"], followers=[3000.0, 4.5, float("nan")]).to_parquet(
        parts / "part-2.parquet", index=False)  # fmt: skip
    plain = shutil.copytree(parts, tmp_path / "plain")  # the same parts alone, for the local engine
    (parts / "_summary.json").write_text('{"engine": "spark"}')  # not a part: not read

    report = score_on_spark(parts, campaign, tmp_path / "spark", model=model_dir, spark=spark,
                            say=lambda _: None)  # fmt: skip
    score_file(plain, campaign, tmp_path / "local.parquet", tmp_path / "local.rejects.parquet",
               model_dir, say=lambda _: None)  # fmt: skip
    on_spark = pd.read_parquet(tmp_path / "spark")
    local = pd.read_parquet(tmp_path / "local.parquet")
    assert (report.rows_in, report.scored, report.rejected) == (9, 6, 3)
    assert on_spark["creator_id"].tolist() == local["creator_id"].tolist()
    assert set(on_spark["creator_id"]) == {"a", "b", "c", "d", "e", "g"}
    own = ["followers", "following", "loyalty"]
    pd.testing.assert_frame_equal(on_spark[COMPARED + own], local[COMPARED + own],
                                  check_dtype=False)  # fmt: skip
    spark_rejects = pd.read_parquet(tmp_path / "spark.rejects").sort_values("creator_id")
    local_rejects = pd.read_parquet(tmp_path / "local.rejects.parquet").sort_values("creator_id")
    as_given = ["creator_id", "reject_reason"]
    expected = [["f", "followers: not a number (got 'lots')"],
                ["h", "followers: not a whole number (got '4.5')"],
                ["i", "followers: required value missing"]]  # fmt: skip
    assert spark_rejects[as_given].values.tolist() == expected
    assert local_rejects[as_given].values.tolist() == expected

    # An earlier output of this engine, and an empty folder, may be replaced.
    empty = tmp_path / "empty"
    empty.mkdir()
    again = score_on_spark(parts, campaign, tmp_path / "spark", empty, model=model_dir,
                           spark=spark, say=lambda _: None)  # fmt: skip
    assert again.rejected == len(pd.read_parquet(empty)) == 3
    summaries = [json.loads((f / "_summary.json").read_text()) for f in (tmp_path / "spark", empty)]
    assert summaries[0] == summaries[1] and summaries[0]["engine"] == "spark"


def broken_parts(folder: Path) -> Path:
    """A folder of two parts whose second has a broken data page (its footer reads fine)."""
    import pyarrow.parquet as pq

    folder.mkdir()
    creators_part(["a", "b"]).to_parquet(folder / "part-0.parquet", index=False)
    broken = folder / "part-1.parquet"
    creators_part(["c", "d"]).to_parquet(broken, index=False, compression=None,
                                         use_dictionary=False)  # fmt: skip
    page = pq.ParquetFile(broken).metadata.row_group(0).column(2).data_page_offset
    with broken.open("r+b") as file:
        file.seek(page)
        file.write(b"\xff" * 12)
    return broken


@pytest.mark.slow
def test_a_failed_spark_job_is_one_line_naming_the_part(model_dir: Path, tmp_path: Path):
    broken = broken_parts(tmp_path / "creators")
    campaign = tmp_path / "campaign.json"
    campaign.write_text(json.dumps({"campaign_id": "k1", "niche": "pet"}))
    done = run_cli("score", "--engine", "spark", "--master", "local[1]", "--creators",
                   broken.parent, "--campaign", campaign, "--model", model_dir, "--out",
                   tmp_path / "out")  # fmt: skip
    one_line_error(done.returncode, done.stderr, f"the Spark job failed: {broken}: ")
    assert "PageHeader" in done.stderr  # the cause, as Parquet says it
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_a_jvm_that_cannot_start_is_one_line_saying_why(model_dir: Path, tmp_path: Path):
    parts, campaign = tiny_input(tmp_path)
    done = subprocess.run([str(CLI), "score", "--engine", "spark", "--master", "local[1]",
                           "--creators", str(parts), "--campaign", str(campaign), "--model",
                           str(model_dir), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JAVA_HOME": str(tmp_path / "no-java")})  # fmt: skip
    one_line_error(done.returncode, done.stderr, "Spark could not start: ")
    assert f"{tmp_path / 'no-java'}/bin/java: No such file" in done.stderr
    assert not list(tmp_path.glob("*out*"))


@pytest.fixture
def without_pyspark(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as a plain install leaves it: importing PySpark or py4j fails as a
    missing module's import does (None in sys.modules). tests/test_install.py runs the
    same command where PySpark is really absent."""
    loaded = [name for name in sys.modules if name.partition(".")[0] in ("pyspark", "py4j")]
    for name in {"pyspark", "py4j", *loaded}:
        monkeypatch.setitem(sys.modules, name, None)


NEEDS_PYSPARK = (
    "the Spark engine needs PySpark: pip install 'creator-recommender[spark]' (and Java 17)"
)


def test_without_pyspark_the_command_names_the_extra_in_one_line_before_any_work(
    without_pyspark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.chdir(tmp_path)  # nothing exists: a word about any input would be work done
    code = main(["score", "--engine", "spark", "--creators", "creators.parquet",
                 "--campaign", "campaign.json", "--model", "no-model", "--show", "3"])  # fmt: skip
    out, err = capsys.readouterr()
    assert (code, out, err) == (1, "", f"error: {NEEDS_PYSPARK}\n")
    assert not list(tmp_path.iterdir())


def test_without_pyspark_the_library_raises_missing_extra_before_reading(
    without_pyspark, tmp_path: Path
):
    with pytest.raises(MissingExtra) as raised:
        score_on_spark(tmp_path / "nowhere", tmp_path / "none.json", tmp_path / "out",
                       model=tmp_path / "no-model", say=lambda _: None)  # fmt: skip
    assert str(raised.value) == NEEDS_PYSPARK and isinstance(raised.value, ImportError)
    with pytest.raises(MissingExtra):
        spark_session("local[1]")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_failed_swap_puts_both_earlier_folders_back(
    spark, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    parts, campaign = tiny_input(tmp_path)
    out = tmp_path / "scored"
    score_on_spark(parts, campaign, out, model=model_dir, spark=spark, say=lambda _: None)
    before = {folder: tree(folder) for folder in (out, tmp_path / "scored.rejects")}
    rename = spark_engine._Folders.rename

    def failing(self, source: str, target: str) -> None:
        if source.endswith("/out"):  # the new output, last: the earlier folders are aside
            raise OSError("no space left on device")
        rename(self, source, target)

    monkeypatch.setattr(spark_engine._Folders, "rename", failing)
    with pytest.raises(OSError, match="no space left"):
        score_on_spark(parts, campaign, out, model=model_dir, spark=spark, say=lambda _: None)
    assert {folder: tree(folder) for folder in before} == before
    assert not list(tmp_path.glob(".scored*"))


KILLED_BETWEEN_RENAMES = """
import os, signal, sys
from recommender.engines import spark as spark_engine
rename = spark_engine._Folders.rename

def killed(self, source, target):
    if source.endswith("/rejects"):  # the new rejects folder, about to take its place
        os.kill(os.getpid(), signal.SIGKILL)
    rename(self, source, target)

creators, campaign, out, model, more = sys.argv[1:]
spark = spark_engine.spark_session("local[1]")
spark_engine.score_on_spark(creators, campaign, out, model=model, spark=spark)
spark_engine._Folders.rename = killed
spark_engine.score_on_spark(more, campaign, out, model=model, spark=spark)
"""


@pytest.mark.slow
def test_a_run_killed_between_its_renames_leaves_no_new_output_beside_old_rejects(
    model_dir: Path, tmp_path: Path
):
    parts, campaign = tiny_input(tmp_path)
    more = tmp_path / "more"
    more.mkdir()
    creators_part(list("uvwxyz")).drop(columns=["niche"]).assign(niche="food").to_parquet(
        more / "part-0.parquet", index=False)  # fmt: skip
    out = tmp_path / "scored"
    job = subprocess.Popen([sys.executable, "-c", KILLED_BETWEEN_RENAMES, str(parts),
                            str(campaign), str(out), str(model_dir), str(more)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)  # fmt: skip
    _, err = job.communicate(timeout=300)
    with suppress(ProcessLookupError):
        os.killpg(job.pid, signal.SIGKILL)  # the JVM, if it outlived its parent
    assert job.returncode == -signal.SIGKILL, err
    scored_now = pd.read_parquet(out)["creator_id"].tolist() if out.exists() else []
    assert not set(scored_now) & set("uvwxyz")  # the new run's output is not in place
    # The earlier output is in its place, or still beside it, moved aside (not destroyed).
    earlier = [*out.glob("part-*"), *tmp_path.glob(".scored.tmp-*/previous/part-*")]
    assert sorted(pd.concat(map(pd.read_parquet, earlier))["creator_id"]) == list("abcdef")
