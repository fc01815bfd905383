"""python serve.py score, run as a batch job runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT.parent / "shared" / "tools" / "check_scored_output.py"
CAMPAIGN = {"campaign_id": "k1", "niche": "pet", "target_country": "US", "product_price_usd": 30}


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "serve.py"), "score", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def files(tmp_path: Path, market) -> Path:
    creators = market.creators.head(200).astype(object)
    creators.loc[10, "followers"] = "-7"
    creators.loc[11, "platform"] = "myspace"
    creators.loc[12, "avg_likes"] = "lots"
    creators.loc[13, "audience_female_share"] = "1.4"
    creators = pd.concat([creators, creators.iloc[[0]]], ignore_index=True)  # a duplicate
    creators.to_csv(tmp_path / "creators.csv", index=False)
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    return tmp_path


def test_good_rows_scored_broken_rows_rejected(files: Path, model_dir: Path):
    out, rejects = files / "out" / "scored.csv", files / "out" / "rejects.csv"
    inputs = ["--creators", str(files / "creators.csv"), "--campaign", str(files / "campaign.json")]
    result = serve(*inputs, "--model", str(model_dir), "--out", str(out), "--rejects", str(rejects))
    assert result.returncode == 0, result.stderr
    assert "201 creator rows: 196 scored rows for 1 campaign(s)" in result.stdout
    assert "5 rejected" in result.stdout
    scored, rejected = pd.read_csv(out), pd.read_csv(rejects)
    assert len(scored) == 196 and sorted(scored["rank"]) == list(range(1, 197))
    assert rejected["reject_reason"].tolist() == [
        "followers: must be >= 0 (got '-7')",
        "platform: must be one of instagram, tiktok, youtube (got 'myspace')",
        "avg_likes: not a number (got 'lots')",
        "audience_female_share: must be <= 1 (got '1.4')",
        "creator_id: duplicate of an earlier row",
    ]
    if CHECKER.is_file():
        check = subprocess.run([sys.executable, str(CHECKER), str(files / "creators.csv"), str(out),
                                str(rejects)], capture_output=True, text=True)  # fmt: skip
        assert check.returncode == 0, check.stdout


def test_top_and_many_candidate_lists_in_one_file(files: Path, model_dir: Path, market):
    campaigns = pd.DataFrame([CAMPAIGN, {**CAMPAIGN, "campaign_id": "k2", "niche": "food"}])
    campaigns.to_csv(files / "campaigns.csv", index=False)
    rows = pd.concat([market.creators.head(30).assign(campaign_id="k1"),
                      market.creators.iloc[30:60].assign(campaign_id="k2")])  # fmt: skip
    rows.to_parquet(files / "lists.parquet")
    out = files / "top.jsonl"
    inputs = [
        "--creators",
        str(files / "lists.parquet"),
        "--campaign",
        str(files / "campaigns.csv"),
    ]
    result = serve(*inputs, "--model", str(model_dir), "--out", str(out), "--top", "5")
    assert result.returncode == 0, result.stderr
    scored = pd.read_json(out, lines=True, dtype={"creator_id": str})
    assert scored.groupby("campaign_id")["rank"].apply(list).to_dict() == {
        "k1": [1, 2, 3, 4, 5], "k2": [1, 2, 3, 4, 5],
    }  # fmt: skip
    assert (files / "top.rejects.jsonl").is_file()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("unreadable", "cannot read as parquet"),
        ("no_model", "no trained model here"),
        ("bad_campaign", "no valid campaign: niche: required value missing"),
        ("unknown_campaign", "nothing could be scored"),
    ],
)
def test_whole_run_problems_are_one_line(
    files: Path, model_dir: Path, market, setup: str, message: str
):
    creators, campaign, model = files / "creators.csv", files / "campaign.json", str(model_dir)
    if setup == "unreadable":
        creators = files / "broken.parquet"
        creators.write_text("not parquet")
    elif setup == "no_model":
        model = str(files / "nowhere")
    elif setup == "bad_campaign":
        campaign.write_text(json.dumps({"campaign_id": "k", "niche": ""}))
    else:
        market.creators.head(5).assign(campaign_id="ghost").to_csv(files / "ghost.csv", index=False)
        creators = files / "ghost.csv"
    result = serve("--creators", str(creators), "--campaign", str(campaign), "--model", model,
                   "--out", str(files / "o.csv"))  # fmt: skip
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("per_row_campaigns", [False, True])
def test_worker_processes_give_the_same_files(
    files: Path, model_dir: Path, tmp_path: Path, per_row_campaigns: bool
):
    from recommender.batch import score_file

    creators = pd.read_csv(files / "creators.csv", dtype=str, keep_default_na=False)
    # A duplicate in a later chunk, of a row in the first; and one of a broken row.
    creators = pd.concat([creators, creators.iloc[[5, 10]]], ignore_index=True)
    campaign = files / "campaign.json"
    if per_row_campaigns:
        creators["campaign_id"] = ["k1", "k2"] * (len(creators) // 2) + ["k1"] * (len(creators) % 2)
        campaign = files / "campaigns.jsonl"
        campaign.write_text(
            "\n".join(json.dumps({**CAMPAIGN, "campaign_id": c}) for c in ("k1", "k2"))
        )
    creators.to_csv(files / "chunked.csv", index=False)
    outputs = []
    for workers in (1, 2):
        out, rejects = tmp_path / f"scored{workers}.csv", tmp_path / f"rejects{workers}.csv"
        report = score_file(files / "chunked.csv", campaign, out, rejects, str(model_dir),
                            say=lambda _: None, workers=workers, chunk_rows=40)  # fmt: skip
        assert report.rows_in == len(creators) == report.scored + report.rejected
        outputs.append((out.read_bytes(), rejects.read_bytes()))
    assert outputs[0] == outputs[1]
    rejected = pd.read_csv(tmp_path / "rejects2.csv")["reject_reason"]
    key = "campaign_id+creator_id" if per_row_campaigns else "creator_id"
    # Copies of rows 0 and 5 are duplicates; the copy of broken row 10 is broken on its own.
    assert (rejected == f"{key}: duplicate of an earlier row").sum() == 2
    assert (rejected == "followers: must be >= 0 (got '-7')").sum() == 2
