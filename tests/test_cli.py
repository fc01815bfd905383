"""The `creator-recommender` command, run as users run it: every subcommand, its files and
its one-line errors. Most tests call the command in this process (cli.main); the last ones
run the installed console script and the checkout's shims as separate processes."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import CAMPAIGN, scored_output_problems

from recommender.cli import main
from recommender.io import read_table, write_table
from recommender.simulate import generate_market, write_market

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `creator-recommender ARGS`, in this process."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, message: str) -> None:
    assert code == 1
    assert err.strip().startswith("error:") and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


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


def test_the_readmes_export_example_prints_what_the_readme_shows(tmp_path, capsys, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    command = "$ creator-recommender validate --creators examples/platform_export.csv"
    shown = readme.split(command, 1)[1].split("```", 1)[0].splitlines()[1:]
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "validate", "--creators", ROOT / "examples" / "platform_export.csv",
                       "--rejects", "rejects.csv")  # fmt: skip
    assert code == 0
    assert out.replace(str(ROOT / "examples") + "/", "examples/").splitlines() == shown


def test_the_readmes_validate_example_prints_what_it_shows_on_make_demos_market(
    tmp_path, capsys, monkeypatch
):
    """The README's validate command, on the market `make demo` simulates (its own line),
    prints the README's lines."""
    makefile = (ROOT / "Makefile").read_text()
    assert "$(CLI) simulate --out $(DEMO) --seed $(SEED)\n" in makefile
    assert "DEMO := data/demo\n" in makefile and "SEED ?= 0\n" in makefile
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```bash\ncreator-recommender validate --creators data/demo/")
    command, shown = readme[start:].split("```")[1:4:2]
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
    from recommender.worker_server import size_bytes as _bytes

    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "part-0.parquet").write_bytes(b"x" * 300)
    (tmp_path / "parts" / "part-1.parquet").write_bytes(b"x" * 200)
    (tmp_path / "one.csv").write_bytes(b"x" * 70)
    assert _bytes(tmp_path / "parts") == 500 and _bytes(tmp_path / "one.csv") == 70
    assert _bytes("s3a://bucket/creators") == 0 and _bytes(tmp_path / "missing.csv") == 0
