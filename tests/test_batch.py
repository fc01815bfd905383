"""Scoring files in chunks, here or in worker processes, and planning over a file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import CAMPAIGN

from recommender.batch import native_stdout_silenced, plan_file, score_file
from recommender.planning import Constraints


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
    for workers in (1, 2):
        out, rejects = tmp_path / f"scored{workers}.csv", tmp_path / f"rejects{workers}.csv"
        report = score_file(candidate_files / "chunked.csv", campaign, out, rejects, str(model_dir),
                            say=lambda _: None, workers=workers, chunk_rows=40)  # fmt: skip
        assert report.rows_in == len(creators) == report.scored + report.rejected
        outputs.append((out.read_bytes(), rejects.read_bytes()))
    assert outputs[0] == outputs[1]
    rejected = pd.read_csv(tmp_path / "rejects2.csv")["reject_reason"]
    key = "campaign_id+creator_id" if per_row_campaigns else "creator_id"
    # Copies of rows 0 and 5 are duplicates; the copy of broken row 10 is broken on its own.
    assert (rejected == f"{key}: duplicate of an earlier row").sum() == 2
    assert (rejected == "followers: must be >= 0 (got '-7')").sum() == 2


def test_the_report_keeps_the_best_rows_it_wrote(candidate_files: Path, model_dir: Path):
    files = candidate_files
    out, rejects = files / "scored.csv", files / "rejects.csv"
    report = score_file(files / "creators.csv", files / "campaign.json", out, rejects,
                        str(model_dir), say=lambda _: None, show=4)  # fmt: skip
    written = pd.read_csv(out, dtype={"creator_id": str})
    assert report.best["creator_id"].tolist() == written["creator_id"].head(4).tolist()
    assert (report.rows_in, report.scored, report.rejected) == (201, 196, 5)
    assert {"read", "validate", "score", "rank", "write"} <= set(report.seconds)


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
        "audience_female_share: must be <= 1 (got '1.4')",
        "creator_id: duplicate of an earlier row",
    ]


def test_native_prints_stay_out_of_the_summary(capfd):
    import os

    with native_stdout_silenced():
        os.write(1, b"HighsMipSolverData::transformNewIntegerFeasibleSolution\n")
    os.write(1, b"summary\n")
    assert capfd.readouterr().out == "summary\n"
