"""The Spark engine in local mode: the local engine's results, row for row; one-line
faults before any work; a killed job leaves --out as it was; the pyfunc as a Spark UDF."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import one_line_error

from recommender.batch import score_file
from recommender.spark_engine import score_on_spark, spark_session

pytestmark = pytest.mark.slow
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


def test_spark_judges_every_spelling_of_an_account_as_the_local_engine(
    spark, market, model_dir: Path, tmp_path: Path
):
    """Copies of an account spelled otherwise ('@NAME', a zero-width space, a Cyrillic letter)
    get one partition key, so they meet where validation calls them duplicates."""
    from recommender.spark_engine import KEY, _key_column

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


def test_the_mlflow_model_scores_pairs_as_a_spark_udf(spark, market, model_dir: Path):
    import mlflow.pyfunc

    from recommender.model_store import load_model
    from recommender.schema import PREDICTION_COLUMNS
    from recommender.scoring import candidate_pairs, checked_campaigns
    from recommender.tracking import as_model_input

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
