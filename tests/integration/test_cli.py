"""The `creator-recommender` command, run as users run it: every subcommand, its files and
its one-line errors. Most tests call the command in this process (cli.main); the last ones
run the installed console script and the checkout's shims as separate processes."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from helpers import CAMPAIGN, files_in, one_line_error, scored_output_problems

from recommender.cli import main
from recommender.datasets.simulate import generate_market, write_market
from recommender.io import read_table, write_table

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `creator-recommender ARGS`, in this process."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# --- score --------------------------------------------------------------------------


def test_score_writes_good_rows_scored_and_broken_rows_rejected(candidate_files, model_dir, capsys):
    out, rejects = candidate_files / "out" / "scored.csv", candidate_files / "out" / "rejects.csv"
    code, stdout, err = run(
        capsys, "score", "--creators", candidate_files / "creators.csv", "--campaign",
        candidate_files / "campaign.json", "--model", model_dir, "--out", out, "--rejects", rejects,
        "--show", "3",
    )  # fmt: skip
    assert code == 0, err
    assert "201 creator rows: 196 scored rows for 1 campaign(s)" in stdout
    assert "5 rejected" in stdout
    scored, rejected = pd.read_csv(out), pd.read_csv(rejects)
    assert len(scored) == 196 and sorted(scored["rank"]) == list(range(1, 197))
    assert rejected["reject_reason"].tolist() == [
        "followers: must be >= 0 (got '-7')",
        "platform: must be one of instagram, tiktok, youtube (got 'myspace')",
        "avg_likes: not a number (got 'lots')",
        "audience_female_share: must be <= 1; a share is 0.625 or 62.5% (got '1.4')",
        "creator_id: duplicate of an earlier row",
    ]
    assert scored_output_problems(candidate_files / "creators.csv", out, rejects) == []
    # --show prints the best rows from what was scored: the file's first three.
    shown = [line.split()[1] for line in stdout.splitlines() if line[:4].strip().endswith(".")]
    assert shown == scored["creator_id"].head(3).tolist()


def test_score_reads_a_folder_of_parquet_parts_as_one_file(candidate_files, model_dir, capsys):
    creators = pd.read_csv(candidate_files / "creators.csv", dtype=str, keep_default_na=False)
    parts = candidate_files / "parts.parquet"
    parts.mkdir()
    for i, start in enumerate(range(0, len(creators), 70)):  # the duplicate is in the last part
        creators.iloc[start : start + 70].to_parquet(parts / f"part-{i:05d}.parquet", index=False)
    (parts / "_SUCCESS").write_text("")
    creators.to_parquet(candidate_files / "whole.parquet", index=False)
    outputs = []
    for source in (parts, candidate_files / "whole.parquet"):
        out = candidate_files / f"{source.stem}.scored.csv"
        campaign = candidate_files / "campaign.json"
        code, _, err = run(capsys, "score", "--creators", source, "--model", model_dir,
                           "--campaign", campaign, "--out", out)  # fmt: skip
        assert code == 0, err
        outputs.append((out.read_bytes(), out.with_name(f"{out.stem}.rejects.csv").read_bytes()))
    assert outputs[0] == outputs[1]
    empty = candidate_files / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "score", "--creators", empty, "--campaign",
                       candidate_files / "campaign.json", "--model", model_dir)  # fmt: skip
    one_line_error(code, err, "empty folder; expected Parquet part files in it")


def test_the_contract_check_catches_broken_output(candidate_files, model_dir, capsys):
    files = candidate_files
    out, rejects = files / "scored.csv", files / "scored.rejects.csv"
    code, _, _ = run(capsys, "score", "--creators", files / "creators.csv", "--campaign",
                     files / "campaign.json", "--model", model_dir, "--out", out)  # fmt: skip
    assert (
        code == 0 and scored_output_problems(candidate_files / "creators.csv", out, rejects) == []
    )
    scored = pd.read_csv(out)
    scored.drop(index=[0]).to_csv(candidate_files / "lost_a_row.csv", index=False)
    scored.assign(reasons="").to_csv(candidate_files / "no_reasons.csv", index=False)
    assert scored_output_problems(
        candidate_files / "creators.csv", candidate_files / "lost_a_row.csv", rejects
    )
    assert scored_output_problems(
        candidate_files / "creators.csv", candidate_files / "no_reasons.csv", rejects
    )


def test_score_keeps_the_top_of_many_candidate_lists(candidate_files, model_dir, market, capsys):
    campaigns = pd.DataFrame([CAMPAIGN, {**CAMPAIGN, "campaign_id": "k2", "niche": "food"}])
    campaigns.to_csv(candidate_files / "campaigns.csv", index=False)
    rows = pd.concat([market.creators.head(30).assign(campaign_id="k1"),
                      market.creators.iloc[30:60].assign(campaign_id="k2")])  # fmt: skip
    rows.to_parquet(candidate_files / "lists.parquet")
    out = candidate_files / "top.jsonl"
    code, _, err = run(capsys, "score", "--creators", candidate_files / "lists.parquet",
                       "--campaign", candidate_files / "campaigns.csv", "--model", model_dir,
                       "--out", out,
                       "--top", 5)  # fmt: skip
    assert code == 0, err
    scored = pd.read_json(out, lines=True, dtype={"creator_id": str})
    assert scored.groupby("campaign_id")["rank"].apply(list).to_dict() == {
        "k1": [1, 2, 3, 4, 5], "k2": [1, 2, 3, 4, 5],
    }  # fmt: skip
    assert (candidate_files / "top.rejects.jsonl").is_file()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("unreadable", "cannot read as parquet"),
        ("no_model", "no trained model here"),
        ("bad_campaign", "no valid campaign: niche: required value missing"),
        ("unknown_campaign", "nothing could be scored"),
        ("corrupt_model", "not a readable model file"),
    ],
)
def test_score_problems_are_one_line(candidate_files, model_dir, market, capsys, setup, message):
    creators, campaign, model = (
        candidate_files / "creators.csv",
        candidate_files / "campaign.json",
        str(model_dir),
    )
    if setup == "unreadable":
        creators = candidate_files / "broken.parquet"
        creators.write_text("not parquet")
    elif setup == "no_model":
        model = str(candidate_files / "nowhere")
    elif setup == "bad_campaign":
        campaign.write_text(json.dumps({"campaign_id": "k", "niche": ""}))
    elif setup == "corrupt_model":
        model = str(candidate_files / "corrupt.joblib")
        Path(model).write_bytes(b"\x80\x04not a whole pickle")
    else:
        market.creators.head(5).assign(campaign_id="ghost").to_csv(
            candidate_files / "ghost.csv", index=False
        )
        creators = candidate_files / "ghost.csv"
    code, _, err = run(capsys, "score", "--creators", creators, "--campaign", campaign,
                       "--model", model, "--out", candidate_files / "o.csv")  # fmt: skip
    one_line_error(code, err, message)


@pytest.mark.parametrize("flag", ["--top", "--workers"])
def test_counts_below_one_are_usage_errors(candidate_files, capsys, flag):
    with pytest.raises(SystemExit) as exit_:
        main(["score", "--creators", str(candidate_files / "creators.csv"), "--campaign",
              str(candidate_files / "campaign.json"), flag, "0"])  # fmt: skip
    assert exit_.value.code == 2
    assert f"{flag}: must be a whole number of at least 1 (got '0')" in capsys.readouterr().err


# --- plan ---------------------------------------------------------------------------


def test_plan_writes_the_plan_its_rejects_summary_and_figure(tmp_path, market, model_dir, capsys):
    creators = market.creators.head(300).copy()
    creators.loc[creators.index[:2], "followers"] = -5  # invalid rows: rejected with a reason
    creators.to_csv(tmp_path / "creators.csv", index=False)
    (tmp_path / "c.json").write_text('{"campaign_id": "k", "niche": "pet"}')
    code, out, err = run(
        capsys, "plan", "--creators", tmp_path / "creators.csv", "--campaign", tmp_path / "c.json",
        "--budget", 1500, "--explore", 0.1, "--model", model_dir, "--out", tmp_path / "plan.csv",
        "--target-country", "US", "--max-segment-share", 0.4,
    )  # fmt: skip
    assert code == 0, err
    assert "the same budget on the" in out and "audience elsewhere" in out
    planned = pd.read_csv(tmp_path / "plan.csv")
    assert planned["cost_usd"].sum() <= 1500 + 1e-6 and "why" in planned.columns
    assert (planned["audience_country"] == "US").all()
    rejects = pd.read_csv(tmp_path / "plan.rejects.csv")
    assert rejects.columns[0] == "reject_reason" and len(rejects) == 2
    assert rejects["reject_reason"].str.contains("followers").all()
    assert (tmp_path / "plan.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((tmp_path / "plan.summary.json").read_text())
    assert summary["creators"] == len(planned)
    assert summary["total_cost_usd"] == pytest.approx(planned["cost_usd"].sum(), abs=0.01)
    assert summary["left_out"]["audience elsewhere"] > 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--max-niche-share", "0"], "max_niche_share must be a share"),
     (["--min-followers", "9000", "--max-followers", "100"], "is above max_followers"),
     (["--explore", "1.5"], "explore must be a share"),
     (["--explore", "0.3", "--seed", "-1"], "seed must be a whole number from 0 (got -1)"),
     (["--budget", "1e-15"], "no candidate could be hired within the budget ("),
     (["--target-country", "usa"], "two-letter country code"),
     (["--min-followers", "1e12"], "no candidate could be hired within the budget (")],
)  # fmt: skip
def test_plan_refuses_impossible_settings_in_one_line(tmp_path, market, model_dir, capsys, flags,
                                                      message):  # fmt: skip
    market.creators.head(50).to_csv(tmp_path / "creators.csv", index=False)
    (tmp_path / "c.json").write_text('{"campaign_id": "k", "niche": "pet"}')
    code, _, err = run(capsys, "plan", "--creators", tmp_path / "creators.csv", "--campaign",
                       tmp_path / "c.json", "--budget", 1000, "--model", model_dir, "--out",
                       tmp_path / "plan.csv", *flags)  # fmt: skip
    one_line_error(code, err, message)
    if "no candidate" in message:  # the files are still written, the summary strict JSON
        assert json.loads((tmp_path / "plan.summary.json").read_text())["expected_roi"] is None


@pytest.mark.parametrize("budget", ["inf", "nan", "0", "-5", "1e300", "1000000000001", "lots"])
def test_a_budget_no_campaign_has_is_a_usage_error(tmp_path, capsys, budget):
    with pytest.raises(SystemExit) as exit_:
        main(["plan", "--creators", str(tmp_path / "c.csv"), "--campaign",
              str(tmp_path / "c.json"), "--budget", budget])  # fmt: skip
    assert exit_.value.code == 2
    message = "--budget: must be a positive amount of USD up to 1,000,000,000,000"
    assert f"{message} (got {budget!r})" in capsys.readouterr().err


def test_a_budget_of_a_cent_reads_as_a_cent(tmp_path, market, model_dir, capsys):
    market.creators.head(50).to_csv(tmp_path / "creators.csv", index=False)
    (tmp_path / "c.json").write_text('{"campaign_id": "k", "niche": "pet"}')
    code, out, err = run(capsys, "plan", "--creators", tmp_path / "creators.csv", "--campaign",
                         tmp_path / "c.json", "--budget", "0.01", "--model", model_dir,
                         "--out", tmp_path / "plan.csv")  # fmt: skip
    one_line_error(code, err, "no candidate could be hired within the budget (")
    assert "  cost $0 of $0.01; expected lift $0 " in out


def test_show_takes_no_negative_count(candidate_files, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["score", "--creators", str(candidate_files / "creators.csv"), "--campaign",
              str(candidate_files / "campaign.json"), "--show", "-5"])  # fmt: skip
    assert exit_.value.code == 2
    assert "--show: must be a whole number of at least 0 (got '-5')" in capsys.readouterr().err


# --- validate, simulate, feedback, real, train ---------------------------------------


def test_validate_counts_and_writes_every_tables_rejects(tmp_path, creators_frame, capsys):
    creators = creators_frame.copy()
    creators.loc[1, "followers"] = "-4"
    write_table(creators, tmp_path / "creators.csv")
    campaigns = pd.DataFrame({"campaign_id": ["c1"], "niche": ["pet"]})
    write_table(campaigns, tmp_path / "campaigns.jsonl")
    outcomes = pd.DataFrame(
        {"campaign_id": ["c1"] * 3, "creator_id": ["a", "b", "c"], "sales_lift_usd": [1, 2, "x"]}
    )
    write_table(outcomes.astype(str), tmp_path / "outcomes.parquet")
    code, out, err = run(
        capsys, "validate", "--creators", tmp_path / "creators.csv",
        "--campaigns", tmp_path / "campaigns.jsonl", "--outcomes", tmp_path / "outcomes.parquet",
        "--rejects", tmp_path / "rejects.csv",
    )  # fmt: skip
    assert code == 0, err
    assert "creators: 2 valid, 1 rejected" in out
    assert "campaigns: 1 valid, 0 rejected" in out
    assert "outcomes: 1 valid, 2 rejected" in out
    rejects = read_table(tmp_path / "rejects.csv")
    assert list(rejects.columns[:2]) == ["table", "reject_reason"]
    assert rejects["table"].tolist() == ["creators", "outcomes", "outcomes"]
    # the outcome of creator b is rejected because b itself was rejected
    assert rejects["reject_reason"].tolist()[1] == "creator_id: unknown creator (got 'b')"
    assert rejects["reject_reason"].tolist()[2] == "sales_lift_usd: not a number (got 'x')"


def test_validate_problems_are_one_line(tmp_path, creators_frame, capsys):
    (tmp_path / "c.csv").write_text("creator_id,followers\n1,2\n")
    code, _, err = run(capsys, "validate", "--creators", tmp_path / "c.csv")
    one_line_error(code, err, "missing required creators column(s): platform, avg_likes")
    write_table(creators_frame.assign(followers="-1"), tmp_path / "none.csv")
    code, out, err = run(capsys, "validate", "--creators", tmp_path / "none.csv")
    assert "creators: 0 valid, 3 rejected" in out
    one_line_error(code, err, "no valid rows in creators")


def test_simulate_writes_a_market_of_the_asked_size(tmp_path, capsys):
    code, out, _ = run(capsys, "simulate", "--out", tmp_path, "--seed", 3, "--creators", 1500,
                       "--campaigns", 12, "--format", "parquet")  # fmt: skip
    assert code == 0 and "1,500 creators, 12 campaigns" in out
    assert len(pd.read_parquet(tmp_path / "creators.parquet")) == 1500
    assert (tmp_path / "truth" / "expected_outcomes.parquet").is_file()
    one_line_error(*run(capsys, "simulate", "--out", tmp_path, "--creators", 5)[::2],
                   "need at least 100 creators")  # fmt: skip


def test_simulate_hires_by_habit_as_many_as_asked(tmp_path, capsys):
    # Seed 12: every campaign's niche has 25 creators it can pay (a small niche may not,
    # and then hires what it has).
    code, out, err = run(capsys, "simulate", "--out", tmp_path, "--seed", 12, "--campaigns", 12,
                         "--hires", 25, "--hiring", "habitual", "--creators", 2000)  # fmt: skip
    assert code == 0, err
    assert "2,000 creators, 12 campaigns, 300 outcomes" in out
    outcomes = pd.read_csv(tmp_path / "outcomes.csv")
    assert len(outcomes) == 300 and (outcomes.groupby("campaign_id").size() == 25).all()
    hired = outcomes.merge(pd.read_csv(tmp_path / "creators.csv"), on="creator_id").merge(
        pd.read_csv(tmp_path / "campaigns.csv"), on="campaign_id", suffixes=("", "_campaign")
    )
    assert (hired["niche"] == hired["niche_campaign"]).all()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--hires", "0", "--hires: must be a whole number of at least 1 (got '0')"),
        ("--hiring", "loyal", "--hiring: invalid choice: 'loyal'"),
    ],
)
def test_simulate_refuses_bad_hiring_knobs_in_one_line(tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--out", str(tmp_path), flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_feedback_appends_new_outcomes_once(tmp_path, capsys):
    market = generate_market(n_creators=500, n_campaigns=5, seed=1)
    write_market(market, tmp_path / "data")
    campaign = market.campaigns["campaign_id"].iloc[0]
    known = market.outcomes[market.outcomes["campaign_id"] == campaign]
    fresh = market.creators.loc[~market.creators["creator_id"].isin(known["creator_id"])]
    new = pd.DataFrame(
        {"campaign_id": campaign, "creator_id": fresh["creator_id"].head(3), "sales_lift_usd": 9.0}
    )
    new = pd.concat([new, known.head(1)], ignore_index=True)  # one row the history holds
    new.to_csv(tmp_path / "new.csv", index=False)
    before = len(pd.read_csv(tmp_path / "data" / "outcomes.csv"))
    code, out, _ = run(
        capsys, "feedback", "--data", tmp_path / "data", "--new", tmp_path / "new.csv"
    )
    assert code == 0 and "added 3 outcome rows" in out and "1 refused" in out
    after = pd.read_csv(tmp_path / "data" / "outcomes.csv")
    refused = pd.read_csv(tmp_path / "new.rejects.csv")
    assert len(after) == before + 3 and len(refused) == 1
    assert refused["reject_reason"].tolist() == [
        "campaign_id+creator_id: already in the outcome history"
    ]
    assert not after.duplicated(["campaign_id", "creator_id"]).any()
    # The same file again adds nothing: every row is known now, and the exit code says so.
    code, out, _ = run(
        capsys, "feedback", "--data", tmp_path / "data", "--new", tmp_path / "new.csv"
    )
    assert code == 1 and "added 0 outcome rows" in out and "4 refused" in out
    assert len(pd.read_csv(tmp_path / "data" / "outcomes.csv")) == before + 3


def test_real_writes_the_creators_contract(tmp_path, capsys):
    source = ROOT / "data" / "external" / "instagram"
    code, out, _ = run(capsys, "real", "--src", source, "--out", tmp_path / "creators.parquet")
    assert code == 0 and "wrote 33,935 real creators" in out
    assert len(pd.read_parquet(tmp_path / "creators.parquet")) == 33_935
    one_line_error(*run(capsys, "real", "--src", tmp_path / "nowhere")[::2], "no such file")


def test_train_problems_are_one_line(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    pd.DataFrame({"creator_id": ["a"]}).to_csv(tmp_path / "data" / "creators.csv", index=False)
    code, _, err = run(capsys, "train", "--data", tmp_path / "data", "--no-tracking")
    one_line_error(
        code, err, f"{tmp_path / 'data'}: no campaigns file (.csv, .parquet, .jsonl, .json, .xlsx)"
    )


def test_training_on_too_few_campaigns_is_one_line(tmp_path, capsys):
    write_market(generate_market(n_creators=200, n_campaigns=2, seed=1), tmp_path / "data")
    code, _, err = run(capsys, "train", "--data", tmp_path / "data", "--no-tracking",
                       "--model-dir", tmp_path / "model")  # fmt: skip
    one_line_error(code, err, "the outcomes cover 2 campaign(s); training needs at least 3")


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("simulate", "validate", "train", "score", "plan", "http", "feedback", "real"):
        assert command in out


# --- as separate processes ----------------------------------------------------------


def test_the_console_script_and_the_shims_run_the_same_command(
    candidate_files, model_dir, tmp_path
):
    """`creator-recommender score` and `python serve.py score` give the same files;
    `python train.py --help` is the train subcommand's help."""
    files = candidate_files
    args = ["--creators", str(files / "creators.csv"), "--campaign", str(files / "campaign.json"),
            "--model", str(model_dir)]  # fmt: skip
    commands = {
        "script": [str(BIN / "creator-recommender"), "score"],
        "shim": [sys.executable, str(ROOT / "serve.py"), "score"],
    }
    outputs = {}
    for name, command in commands.items():
        out = tmp_path / f"{name}.csv"
        done = subprocess.run([*command, *args, "--out", str(out)], capture_output=True,
                              text=True, timeout=300, cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs[name] = out.read_bytes()
    assert outputs["script"] == outputs["shim"]
    helped = subprocess.run([sys.executable, str(ROOT / "train.py"), "--help"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert helped.returncode == 0 and "--model-dir" in helped.stdout
    assert helped.stdout.startswith("usage: creator-recommender train")


def test_a_broken_pipe_ends_quietly(candidate_files, model_dir):
    """`creator-recommender score --show 50 | head -1`: no traceback when the reader leaves."""
    command = (
        f"'{BIN / 'creator-recommender'}' score --creators '{candidate_files / 'creators.csv'}' "
        f"--campaign '{candidate_files / 'campaign.json'}' --model '{model_dir}' "
        f"--out '{candidate_files / 'o.csv'}' --show 50 | head -1"
    )
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert len(done.stdout.splitlines()) == 1


# --- faults a user met (issue 13) -----------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--out", "{creators}"], "the output would replace the creators file"),
        (["--rejects", "{creators}"], "the rejects file would replace the creators file"),
        (["--rejects", "{campaign}"], "the rejects file would replace the campaign file"),
        (["--out", "{dir}/o.csv", "--rejects", "{dir}/./o.csv"],
         "the rejects file would replace the output"),
        (["--out", "{dir}/o.txt"], "unknown file type '.txt'"),
        (["--out", "{dir}/o.xlsx"], "cannot write xlsx"),
        (["--out", "{creators}/o.csv"], "is a file, not a folder"),
        (["--out", "{dir}/folder.csv"], "is a folder; name a file to write"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["score", "plan"])
def test_outputs_that_would_lose_data_are_refused_before_any_work(
    candidate_files, capsys, command, flags, message
):
    (candidate_files / "folder.csv").mkdir()
    creators, campaign = candidate_files / "creators.csv", candidate_files / "campaign.json"
    before = {p.name: p.read_bytes() for p in candidate_files.iterdir() if p.is_file()}
    paths = {"creators": creators, "campaign": campaign, "dir": candidate_files}
    budget = ["--budget", "500"] if command == "plan" else []
    code, _, err = run(
        capsys, command, "--creators", creators, "--campaign", campaign, *budget,
        # no model there: the outputs are checked before anything is loaded or scored
        "--model", candidate_files / "no-model", *[f.format(**paths) for f in flags],
    )  # fmt: skip
    one_line_error(code, err, message)
    after = {p.name: p.read_bytes() for p in candidate_files.iterdir() if p.is_file()}
    assert after == before


def test_validate_refuses_rejects_over_an_input(tmp_path, creators_frame, capsys):
    creators_frame.to_csv(tmp_path / "c.csv", index=False)
    code, _, err = run(capsys, "validate", "--creators", tmp_path / "c.csv",
                       "--rejects", tmp_path / "c.csv")  # fmt: skip
    one_line_error(code, err, "the rejects file would replace the creators file")
    assert pd.read_csv(tmp_path / "c.csv").shape == (3, 6)


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_list_valued_extra_columns_are_written_as_json_text(tmp_path, market, model_dir, capsys,
                                                            ext):  # fmt: skip
    creators = market.creators.head(20).astype(object)
    creators["tags"] = [["dog", "cat"]] * 10 + [{"tier": "gold"}] * 10
    creators.loc[3, "followers"] = -1  # a rejected row keeps its list too
    write_table(creators, tmp_path / f"creators.{ext}")
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    code, _, err = run(capsys, "score", "--creators", tmp_path / f"creators.{ext}", "--campaign",
                       tmp_path / "campaign.json", "--model", model_dir,
                       "--out", tmp_path / "scored.csv")  # fmt: skip
    assert code == 0, err
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert set(scored["tags"]) == {'["dog", "cat"]', '{"tier": "gold"}'}
    assert pd.read_csv(tmp_path / "scored.rejects.csv")["tags"].tolist() == ['["dog", "cat"]']
    code, _, err = run(capsys, "validate", "--creators", tmp_path / f"creators.{ext}",
                       "--rejects", tmp_path / "rejects.csv")  # fmt: skip
    assert code == 0, err
    assert pd.read_csv(tmp_path / "rejects.csv")["tags"].tolist() == ['["dog", "cat"]']


def test_a_windows_export_with_semicolons_and_a_bom_campaign_is_scored(
    tmp_path, market, model_dir, capsys
):
    creators = market.creators.head(30).astype(object)
    creators.loc[0, "creator_id"] = "Zoé_café"
    creators.loc[1, "creator_id"] = '=HYPERLINK("http://evil")'
    creators.to_csv(tmp_path / "c.csv", sep=";", index=False, encoding="cp1252")
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN), encoding="utf-8-sig")
    code, _, err = run(capsys, "score", "--creators", tmp_path / "c.csv", "--campaign",
                       tmp_path / "campaign.json", "--model", model_dir,
                       "--out", tmp_path / "s.csv")  # fmt: skip
    assert code == 0, err
    scored = pd.read_csv(tmp_path / "s.csv")
    ids = set(scored["creator_id"])
    assert "Zoé_café" in ids and '\'=HYPERLINK("http://evil")' in ids and len(ids) == 30
    assert scored["reasons"].str[0].isin(["+", "-"]).all()  # the package's own words


def test_validate_prints_each_header_it_read_as_a_contract_column(tmp_path, capsys):
    (tmp_path / "export.csv").write_text(
        "Username,Platform,Followers,Avg. Likes,Avg Comments,Category,Tags\n"
        'a,Instagram,12.5K,"1,250",40,Pets,x\n'
    )
    code, out, _ = run(capsys, "validate", "--creators", tmp_path / "export.csv")
    assert code == 0
    assert out.splitlines()[:7] == [
        "creators: read 6 headers as contract columns:", "  'Username' -> creator_id",
        "  'Platform' -> platform", "  'Followers' -> followers", "  'Avg. Likes' -> avg_likes",
        "  'Avg Comments' -> avg_comments", "  'Category' -> niche",
    ]  # fmt: skip
    assert "creators: 1 valid, 0 rejected" in out
    (tmp_path / "export.csv").write_text("Username,Handle,Followers\na,b,1\n")
    one_line_error(*run(capsys, "validate", "--creators", tmp_path / "export.csv")[::2],
                   "columns 'Username' and 'Handle' both mean creator_id; keep one")  # fmt: skip


def test_the_docs_export_example_prints_what_the_docs_show(tmp_path, capsys, monkeypatch):
    page = (ROOT / "docs" / "data.md").read_text()
    command = "$ creator-recommender validate --creators examples/platform_export.csv"
    shown = page.split(command, 1)[1].split("```", 1)[0].splitlines()[1:]
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "validate", "--creators", ROOT / "examples" / "platform_export.csv",
                       "--rejects", "rejects.csv")  # fmt: skip
    assert code == 0
    assert out.replace(str(ROOT / "examples") + "/", "examples/").splitlines() == shown


def test_the_docs_validate_example_prints_what_it_shows_on_make_demos_market(
    tmp_path, capsys, monkeypatch
):
    """The validate command of the commands page, on the market `make demo` simulates (its
    own line), prints the page's lines."""
    makefile = (ROOT / "Makefile").read_text()
    assert "$(CLI) simulate --out $(DEMO) --seed $(SEED)\n" in makefile
    assert "DEMO := data/demo\n" in makefile and "SEED ?= 0\n" in makefile
    page = (ROOT / "docs" / "commands.md").read_text()
    start = page.index("```bash\ncreator-recommender validate --creators data/demo/")
    command, shown = page[start:].split("```")[1:4:2]
    args = shlex.split(command.removeprefix("bash\n").replace("\\\n", " "))
    assert args[0] == "creator-recommender"
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "simulate", "--out", "data/demo", "--seed", "0")[0] == 0
    code, out, _ = run(capsys, *args[1:])
    assert code == 0
    assert out.splitlines() == shown.strip().splitlines()


@pytest.mark.parametrize("name", ["creators.csv", "outcomes.csv", "../new.csv"])
def test_feedback_refuses_rejects_over_the_training_data(tmp_path, capsys, name):
    write_market(generate_market(n_creators=100, n_campaigns=2, seed=1), tmp_path / "data")
    market_files = {p.name: p.read_bytes() for p in (tmp_path / "data").glob("*.csv")}
    pd.read_csv(tmp_path / "data" / "outcomes.csv").head(2).to_csv(tmp_path / "new.csv",
                                                                   index=False)  # fmt: skip
    code, _, err = run(capsys, "feedback", "--data", tmp_path / "data", "--new",
                       tmp_path / "new.csv", "--rejects", tmp_path / "data" / name)  # fmt: skip
    one_line_error(code, err, "the rejects file would replace the")
    assert {p.name: p.read_bytes() for p in (tmp_path / "data").glob("*.csv")} == market_files


def test_a_plan_over_an_export_with_no_valid_row_is_one_line(tmp_path, model_dir, capsys):
    (tmp_path / "export.csv").write_text(
        "Username,Platform,Followers,Avg Likes,Avg Comments,Category\na,Instagram,n/a,1,1,Pet\n"
    )
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    code, _, err = run(capsys, "plan", "--creators", tmp_path / "export.csv", "--campaign",
                       tmp_path / "campaign.json", "--budget", 100, "--model", model_dir,
                       "--out", tmp_path / "plan.csv")  # fmt: skip
    one_line_error(code, err, "every row was rejected")
    assert pd.read_csv(tmp_path / "plan.rejects.csv")["creator_id"].tolist() == ["a"]


def test_a_scored_file_scored_again_keeps_its_old_columns(candidate_files, model_dir, capsys):
    first, second = candidate_files / "first.csv", candidate_files / "second.csv"
    for source, out in ((candidate_files / "creators.csv", first), (first, second)):
        campaign = candidate_files / "campaign.json"
        code, _, err = run(capsys, "score", "--creators", source, "--campaign", campaign,
                           "--model", model_dir, "--out", out)  # fmt: skip
        assert code == 0, err
    again = pd.read_csv(second)
    assert {"rank_input", "score_input", "reasons_input"} <= set(again.columns)
    assert again.set_index("creator_id")["rank_input"].equals(
        pd.read_csv(first).set_index("creator_id")["rank"].loc[again["creator_id"]]
    )


@pytest.mark.parametrize("out", ["", "/", "."])
def test_an_output_that_names_no_file_is_a_usage_error(candidate_files, capsys, out):
    with pytest.raises(SystemExit) as exit_:
        main(["score", "--creators", str(candidate_files / "creators.csv"), "--campaign",
              str(candidate_files / "campaign.json"), "--out", out])  # fmt: skip
    assert exit_.value.code == 2 and "--out: must name a file" in capsys.readouterr().err


def test_feedback_reads_a_folder_of_exports_and_a_rejects_file_fed_back(tmp_path, capsys):
    market = generate_market(n_creators=200, n_campaigns=3, seed=2)
    write_market(market, tmp_path / "data")
    shown = {"campaign_id": "Campaign", "creator_id": "Handle", "sales_lift_usd": "Sales Lift"}
    outcomes = pd.read_csv(tmp_path / "data" / "outcomes.csv").rename(columns=shown)
    outcomes.to_csv(tmp_path / "data" / "outcomes.csv", sep=";", index=False)
    fresh = market.creators["creator_id"][~market.creators["creator_id"].isin(outcomes["Handle"])]
    new = pd.DataFrame({"Campaign": market.campaigns["campaign_id"].iloc[0],
                        "Handle": fresh.head(2).to_list(), "Sales Lift": ["$1,200", "($80)"],
                        "reject_reason": "fixed by hand"})  # fmt: skip
    new.to_csv(tmp_path / "new.csv", index=False)
    code, out, err = run(capsys, "feedback", "--data", tmp_path / "data", "--new",
                         tmp_path / "new.csv")  # fmt: skip
    assert code == 0 and "added 2 outcome rows" in out, err
    history = pd.read_csv(tmp_path / "data" / "outcomes.csv")
    assert "reject_reason" not in history.columns and len(history) == len(outcomes) + 2
    assert history["sales_lift_usd"].tail(2).tolist() == [1200.0, -80.0]


def test_feedback_keeps_a_decimal_comma_history_readable(tmp_path, capsys):
    market = generate_market(n_creators=200, n_campaigns=3, seed=4)
    write_market(market, tmp_path / "data")
    outcomes = pd.read_csv(tmp_path / "data" / "outcomes.csv")
    european = outcomes.assign(sales_lift_usd=[f"{v:.2f}".replace(".", ",")
                                               for v in outcomes["sales_lift_usd"]])  # fmt: skip
    european.to_csv(tmp_path / "data" / "outcomes.csv", sep=";", index=False)
    fresh = market.creators["creator_id"][
        ~market.creators["creator_id"].isin(outcomes["creator_id"])
    ]
    pd.DataFrame({"campaign_id": market.campaigns["campaign_id"].iloc[0],
                  "creator_id": fresh.head(2).to_list(), "sales_lift_usd": [9.02, 7.5]}).to_csv(
        tmp_path / "new.csv", index=False)  # fmt: skip
    code, _, err = run(capsys, "feedback", "--data", tmp_path / "data", "--new",
                       tmp_path / "new.csv")  # fmt: skip
    assert code == 0, err
    code, out, _ = run(capsys, "validate", "--creators", tmp_path / "data" / "creators.csv",
                       "--campaigns", tmp_path / "data" / "campaigns.csv",
                       "--outcomes", tmp_path / "data" / "outcomes.csv")  # fmt: skip
    assert f"outcomes: {len(outcomes) + 2:,} valid, 0 rejected" in out


def test_score_sizes_its_input_to_start_the_worker_server_early(tmp_path: Path):
    """A file, a folder of parts (summed), a URI and a missing path (0: said later)."""
    from recommender.engines._forkserver import size_bytes as _bytes

    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "part-0.parquet").write_bytes(b"x" * 300)
    (tmp_path / "parts" / "part-1.parquet").write_bytes(b"x" * 200)
    (tmp_path / "one.csv").write_bytes(b"x" * 70)
    assert _bytes(tmp_path / "parts") == 500 and _bytes(tmp_path / "one.csv") == 70
    assert _bytes("s3a://bucket/creators") == 0 and _bytes(tmp_path / "missing.csv") == 0


# --- files as people export them: NUL bytes, sheets, title rows, empty tables (issue 25) --


@pytest.mark.parametrize("row", [3, 1_500])  # within the first bytes looked at, or far below
def test_a_nul_byte_rejects_its_row_wherever_it_is_and_never_reaches_the_output(
    tmp_path, market, model_dir, capsys, row
):
    creators = market.creators.head(2_000).astype(str)
    creators.loc[row, "niche"] = "p\0et"
    creators.to_csv(tmp_path / "c.csv", index=False)
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    code, out, err = run(capsys, "score", "--creators", tmp_path / "c.csv", "--campaign",
                         tmp_path / "campaign.json", "--model", model_dir,
                         "--out", tmp_path / "s.csv")  # fmt: skip
    assert code == 0, err
    assert "1,999 scored rows" in out and "1 rejected" in out
    assert b"\0" not in (tmp_path / "s.csv").read_bytes()
    rejected = pd.read_csv(tmp_path / "s.rejects.csv", dtype=str)
    assert rejected["creator_id"].tolist() == [creators.loc[row, "creator_id"]]
    assert rejected["reject_reason"].tolist() == [
        "niche: contains a NUL character (got 'p\\x00et')"
    ]


READING_COMMANDS = ("score", "plan", "validate")


def beside_the_creators(command: str, folder: Path, model_dir: Path) -> list[object]:
    """The arguments of `command` other than --creators: folder/campaign.json, the model,
    an output folder/o.csv."""
    if command == "validate":
        return []
    budget = ["--budget", 100] if command == "plan" else []
    return ["--campaign", folder / "campaign.json", "--model", model_dir, *budget,
            "--out", folder / "o.csv"]  # fmt: skip


def creators_workbook(path: Path, market, sheets: dict[str, int]) -> Path:
    """A workbook of sheets each holding this many of the market's creators (0: a summary)."""
    with pd.ExcelWriter(path) as book:
        summary = pd.DataFrame({"Campaign report": ["Total creators", "Budget"],
                                "": [12, "$5,000"]})  # fmt: skip
        for name, rows in sheets.items():
            table = market.creators.head(rows) if rows else summary
            table.to_excel(book, sheet_name=name, index=False)
    return path


def test_score_counts_sheets_from_one_and_says_which_it_read(tmp_path, market, model_dir, capsys):
    book = creators_workbook(tmp_path / "c.xlsx", market, {"Old": 5, "Creators": 8})
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    for sheet, rows in (("1", 5), ("2", 8), ("creators", 8)):
        code, out, err = run(capsys, "score", "--creators", book, "--campaign",
                             tmp_path / "campaign.json", "--model", model_dir, "--sheet", sheet,
                             "--out", tmp_path / "s.csv")  # fmt: skip
        assert code == 0, err
        number = "1 of 2" if rows == 5 else "2 of 2"
        assert f"{book}: read sheet '{'Old' if rows == 5 else 'Creators'}', {number}" in out
        assert f"{rows} creator rows: {rows} scored rows" in out


def test_a_summary_first_sheet_is_named_with_the_sheet_that_holds_the_table(
    tmp_path, market, model_dir, capsys
):
    book = creators_workbook(tmp_path / "c.xlsx", market,
                             {"Summary": 0, "Creators": 8, "Notes": 0})  # fmt: skip
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    for command in READING_COMMANDS:
        code, _, err = run(capsys, command, "--creators", book,
                           *beside_the_creators(command, tmp_path, model_dir))  # fmt: skip
        one_line_error(code, err, f"{book}: sheet 'Summary', 1 of 3 has no creators column(s) "
                       "creator_id, platform, followers")  # fmt: skip
        assert "(the other sheets: 'Creators', 'Notes'); sheet 'Creators' has them: --sheet 2" in (
            err
        )
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_a_sheet_asked_of_a_file_that_is_no_workbook_is_refused(
    candidate_files, model_dir, capsys, command
):
    code, _, err = run(capsys, command, "--creators", candidate_files / "creators.csv", "--sheet",
                       "2", *beside_the_creators(command, candidate_files, model_dir))  # fmt: skip
    one_line_error(code, err, "a sheet ('2') was asked for, but")
    assert not (candidate_files / "o.csv").exists()


def test_validate_reads_below_title_rows_and_says_so(tmp_path, capsys):
    (tmp_path / "export.csv").write_text(
        "Creators export,,,,,\nMarch 2025,,,,,\n\n"
        "Username,Platform,Followers,Avg Likes,Avg Comments,Category\n"
        "a,Instagram,12.5K,40,3,Pet\nb,TikTok,1200,#DIV/0!,1,Food\n"
    )
    code, out, err = run(capsys, "validate", "--creators", tmp_path / "export.csv")
    assert code == 0, err
    assert f"{tmp_path / 'export.csv'}: the header is on row 4: skipped 2 rows above it" in out
    assert "creators: 1 valid, 1 rejected" in out
    assert "avg_likes: an Excel error (#DIV/0!)" in out


def test_an_excel_error_in_a_workbook_is_rejected_as_such(tmp_path, creators_frame, capsys):
    creators_frame.loc[1, "avg_likes"] = "#DIV/0!"  # openpyxl writes it as an error cell
    creators_frame.to_excel(tmp_path / "c.xlsx", index=False)
    code, out, err = run(capsys, "validate", "--creators", tmp_path / "c.xlsx",
                         "--rejects", tmp_path / "r.csv")  # fmt: skip
    assert code == 0, err
    assert f"{tmp_path / 'c.xlsx'}: read sheet 'Sheet1', 1 of 1" in out
    assert pd.read_csv(tmp_path / "r.csv")["reject_reason"].tolist() == [
        "avg_likes: an Excel error (#DIV/0!)"
    ]


@pytest.mark.parametrize("ext", ["csv", "xlsx", "parquet"])
@pytest.mark.parametrize("command", READING_COMMANDS)
def test_a_creators_file_with_a_header_and_no_rows_is_said_so(
    tmp_path, market, model_dir, capsys, command, ext
):
    path = tmp_path / f"c.{ext}"
    header_only = market.creators.head(0)
    if ext == "xlsx":
        header_only.to_excel(path, index=False)
    else:
        write_table(header_only, path)
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    code, _, err = run(capsys, command, "--creators", path,
                       *beside_the_creators(command, tmp_path, model_dir))  # fmt: skip
    one_line_error(code, err, f"{path}: the file has no data rows")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["campaign.json", f"c.{ext}"])


@pytest.mark.parametrize("table", ["creators", "campaigns", "outcomes"])
def test_train_says_which_table_has_no_data_rows(tmp_path, capsys, table):
    write_market(generate_market(n_creators=200, n_campaigns=3, seed=1), tmp_path / "data")
    path = tmp_path / "data" / f"{table}.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    code, _, err = run(capsys, "train", "--data", tmp_path / "data", "--no-tracking",
                       "--model-dir", tmp_path / "model")  # fmt: skip
    one_line_error(code, err, f"{path}: the file has no data rows")
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"campaign_id": "k1", "niche": "pet", "niche": "food"}', "gives 'niche' twice"),
        ('{"campaign_id": "k1", "niche": "pet", "budget_usd": ' + "9" * 5_000 + "}",
         "budget_usd: not a finite number"),
    ],
)  # fmt: skip
def test_a_campaign_file_as_written_is_refused_in_one_line(
    candidate_files, model_dir, capsys, text, message
):
    (candidate_files / "campaign.json").write_text(text)
    code, _, err = run(capsys, "score", "--creators", candidate_files / "creators.csv",
                       "--campaign", candidate_files / "campaign.json", "--model", model_dir,
                       "--out", candidate_files / "o.csv")  # fmt: skip
    one_line_error(code, err, message)
    assert "set_int_max_str_digits" not in err


# --- what a failed run leaves; folders; handles (issue 25) ---------------------------


def in_a_shell(args: list[object], limit_kb: int | None = None, pipe: str = "") -> str:
    """`creator-recommender ARGS` as a bash line: under `ulimit -f` (a write past the
    limit fails with EFBIG, as a full disk fails with ENOSPC), into a pipe."""
    import shlex

    line = shlex.join([str(BIN / "creator-recommender"), *map(str, args)])
    limit = f"ulimit -f {limit_kb}; " if limit_kb else ""
    return f"{limit}{line}{pipe}"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["score", "plan"])
def test_a_full_disk_leaves_the_earlier_files_and_names_the_file(
    candidate_files, model_dir, market, capsys, command
):
    """The rejects file does not fit: the new output must not replace the old one, beside
    an old rejects file and summary that describe another run."""
    out = candidate_files / "out"
    flags = ["--budget", 2_000] if command == "plan" else []
    args = [command, "--campaign", candidate_files / "campaign.json", "--model", model_dir,
            "--out", out / "s.csv", *flags]  # fmt: skip
    code, _, err = run(capsys, *args, "--creators", candidate_files / "creators.csv")
    assert code == 0, err
    before = files_in(out)
    creators = market.creators.head(200).assign(bio="x" * 1_000)
    creators.loc[creators.index[20:], "followers"] = -1  # 180 long rows rejected: 190 KB
    creators.to_csv(candidate_files / "long.csv", index=False)
    line = in_a_shell([*args, "--creators", candidate_files / "long.csv"], limit_kb=64)
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert files_in(out) == before
    assert done.stderr.splitlines() == [
        f"error: {out / 's.rejects.csv'}: cannot be written: File too large; no output was replaced"
    ]


@pytest.mark.slow
def test_a_closed_stdout_leaves_one_whole_set(candidate_files, model_dir, market, capsys):
    """`score ... | head -1`: whatever the run managed, the summary describes the output
    and the rejects beside it."""
    out = candidate_files / "out" / "s.csv"
    market.creators.head(50).to_csv(candidate_files / "earlier.csv", index=False)
    args = ["score", "--campaign", candidate_files / "campaign.json", "--model", model_dir,
            "--out", out]  # fmt: skip
    code, _, err = run(capsys, *args, "--creators", candidate_files / "earlier.csv")
    assert code == 0, err
    line = in_a_shell([*args, "--creators", candidate_files / "creators.csv"], pipe=" | head -1")
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    assert done.stdout.startswith("scoring with") and "Traceback" not in done.stderr
    summary = json.loads((out.parent / "s.summary.json").read_text())
    scored, rejected = read_table(out), read_table(out.parent / "s.rejects.csv")
    assert (summary["scored"], summary["rejected"]) == (len(scored), len(rejected))
    assert summary["rows_in"] == 201  # the new run's set, put in place before the count


@pytest.mark.parametrize("command", ["score", "plan"])
@pytest.mark.parametrize("flag", ["--out", "--rejects"])
def test_an_output_inside_the_input_folder_is_refused_before_any_work(
    candidate_files, capsys, command, flag
):
    parts = candidate_files / "parts"
    parts.mkdir()
    pd.read_csv(candidate_files / "creators.csv").to_parquet(parts / "part-0.parquet")
    budget = ["--budget", "500"] if command == "plan" else []
    code, _, err = run(
        capsys, command, "--creators", parts, "--campaign", candidate_files / "campaign.json",
        *budget, "--model", candidate_files / "no-model", flag, parts / "scored.csv",
    )  # fmt: skip
    one_line_error(code, err, "would be inside the creators file, a folder read whole")
    assert [p.name for p in parts.iterdir()] == ["part-0.parquet"]


def test_an_earlier_output_inside_the_input_folder_is_not_read_as_input(
    candidate_files, model_dir, capsys
):
    """A folder is read from its own part files: a folder in it (an earlier Spark output)
    would have been read too, every creator scored twice."""
    parts = candidate_files / "parts"
    (parts / "scored.parquet").mkdir(parents=True)
    creators = pd.read_csv(candidate_files / "creators.csv", dtype=str, keep_default_na=False)
    creators.to_parquet(parts / "part-0.parquet")
    creators.to_parquet(parts / "scored.parquet" / "part-0.parquet")
    code, _, err = run(capsys, "score", "--creators", parts, "--campaign",
                       candidate_files / "campaign.json", "--model", model_dir, "--out",
                       candidate_files / "scored.csv")  # fmt: skip
    one_line_error(code, err, f"{parts / 'scored.parquet'}: a folder inside the input folder")
    assert not (candidate_files / "scored.csv").exists()


def test_handles_go_from_scored_and_plan_files_into_feedback_as_written(
    tmp_path, model_dir, capsys
):
    """`@handle` ids are keys: a scored or planned file's rows become outcomes that
    feedback knows, and the history keeps them as written."""
    market = generate_market(n_creators=300, n_campaigns=3, seed=3)
    handle = {c: f"@{c}" for c in market.creators["creator_id"]}
    creators = market.creators.assign(creator_id=market.creators["creator_id"].map(handle))
    outcomes = market.outcomes.assign(creator_id=market.outcomes["creator_id"].map(handle))
    write_market(replace(market, creators=creators, outcomes=outcomes), tmp_path / "data")
    campaign = market.campaigns["campaign_id"].iloc[0]
    (tmp_path / "c.json").write_text(json.dumps({"campaign_id": campaign, "niche": "pet"}))
    data = tmp_path / "data"
    for command, budget in (("score", []), ("plan", ["--budget", 3_000])):
        code, _, err = run(capsys, command, "--creators", data / "creators.csv", "--campaign",
                           tmp_path / "c.json", "--model", model_dir, "--out",
                           tmp_path / f"{command}.csv", *budget)  # fmt: skip
        assert code == 0, err
    hired = set(outcomes.loc[outcomes["campaign_id"] == campaign, "creator_id"])
    chosen = [read_table(tmp_path / f"{name}.csv")["creator_id"] for name in ("plan", "score")]
    new_ids = list(dict.fromkeys(i for i in pd.concat(chosen) if i not in hired))[:6]
    assert len(new_ids) == 6 and all(i.startswith("@cr") for i in new_ids)
    new = pd.DataFrame({"campaign_id": campaign, "creator_id": new_ids, "sales_lift_usd": 5.0})
    new.to_csv(tmp_path / "new.csv", index=False)
    code, out, _ = run(capsys, "feedback", "--data", data, "--new", tmp_path / "new.csv")
    assert code == 0 and "added 6 outcome rows" in out and "0 refused" in out
    history = read_table(data / "outcomes.csv")
    assert set(new_ids) <= set(history["creator_id"]) and history["creator_id"].str[0].eq("@").all()
    code, out, _ = run(capsys, "feedback", "--data", data, "--new", tmp_path / "new.csv")
    assert code == 1 and "6 refused" in out  # known now: the history's ids are the same ids
    refused = read_table(tmp_path / "new.rejects.csv")
    assert refused["creator_id"].tolist() == new_ids  # rejects keep them as written too
