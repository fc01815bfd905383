"""python -m recommender.validate, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from recommender.io import read_table, write_table


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recommender.validate", *args], capture_output=True, text=True
    )


def test_counts_and_rejects_file(tmp_path, creators_frame):
    creators = creators_frame.copy()
    creators.loc[1, "followers"] = "-4"
    write_table(creators, tmp_path / "creators.csv")
    write_table(
        pd.DataFrame({"campaign_id": ["c1"], "niche": ["pet"]}), tmp_path / "campaigns.jsonl"
    )
    outcomes = pd.DataFrame(
        {
            "campaign_id": ["c1", "c1", "c1"],
            "creator_id": ["a", "b", "c"],
            "sales_lift_usd": [1, 2, "x"],
        }
    )
    write_table(outcomes.astype(str), tmp_path / "outcomes.parquet")
    result = run(
        "--creators", str(tmp_path / "creators.csv"),
        "--campaigns", str(tmp_path / "campaigns.jsonl"),
        "--outcomes", str(tmp_path / "outcomes.parquet"),
        "--rejects", str(tmp_path / "rejects.csv"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "creators: 2 valid, 1 rejected" in result.stdout
    assert "campaigns: 1 valid, 0 rejected" in result.stdout
    assert "outcomes: 1 valid, 2 rejected" in result.stdout
    rejects = read_table(tmp_path / "rejects.csv")
    assert rejects["table"].tolist() == ["creators", "outcomes", "outcomes"]
    # the outcome of creator b is rejected because b itself was rejected
    assert rejects["reject_reason"].tolist()[1] == "creator_id: unknown creator (got 'b')"
    assert rejects["reject_reason"].tolist()[2] == "sales_lift_usd: not a number (got 'x')"


def test_whole_file_problem_is_one_line_without_traceback(tmp_path):
    (tmp_path / "c.csv").write_text("creator_id,followers\n1,2\n")
    result = run("--creators", str(tmp_path / "c.csv"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr
    assert "missing required creators column(s): platform, avg_likes" in result.stderr


def test_no_valid_rows_exits_non_zero(tmp_path, creators_frame):
    write_table(creators_frame.assign(followers="-1"), tmp_path / "c.csv")
    result = run("--creators", str(tmp_path / "c.csv"))
    assert result.returncode == 1
    assert "creators: 0 valid, 3 rejected" in result.stdout
    assert "no valid rows in creators" in result.stderr
