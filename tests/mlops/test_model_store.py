"""Model files: found, checked and cached in one place."""

from __future__ import annotations

import copy
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
from helpers import CAMPAIGN

from recommender.errors import USER_ERRORS, ModelNotFound
from recommender.mlops import model_store
from recommender.mlops.model_store import (
    load_model,
    model_file,
    previous_copy,
    read_model_file,
    replace_folder,
    restore_replaced,
    save_model,
)


def test_a_model_loads_from_its_directory_or_its_file_and_is_cached(model_dir):
    from_dir = load_model(model_dir)
    assert load_model(model_file(model_dir)) is from_dir
    assert load_model(from_dir) is from_dir  # a Recommender is used as given


def test_missing_and_foreign_files_are_one_line_errors(tmp_path):
    with pytest.raises(ModelNotFound, match="no trained model here"):
        load_model(tmp_path)
    joblib.dump({"not": "a model"}, tmp_path / "other.joblib")
    with pytest.raises(ModelNotFound, match="not a creator-recommender model"):
        read_model_file(tmp_path / "other.joblib")


def test_a_model_of_an_older_format_is_refused_with_a_retrain_message(model, tmp_path):
    older = copy.copy(model)
    older.model_format_ = model.model_format_ - 1
    save_model(older, tmp_path / "old.joblib")
    with pytest.raises(ModelNotFound, match="older version of this package; retrain"):
        load_model(tmp_path / "old.joblib")


def test_a_rewritten_file_is_read_again(model, tmp_path):
    path = tmp_path / "m.joblib"
    save_model(model, path)
    first = load_model(path)
    save_model(model, path)
    path.touch()
    assert load_model(path) is not first


def test_a_model_file_is_a_plain_joblib_file_and_one_without_checksum_still_loads(model, tmp_path):
    path = tmp_path / "m.joblib"
    save_model(model, path)
    assert isinstance(joblib.load(path), type(model))  # the footer is invisible to joblib
    joblib.dump(model, tmp_path / "unchecked.joblib")  # as saved before the footer existed
    assert isinstance(read_model_file(tmp_path / "unchecked.joblib"), type(model))


# --- broken model files: one line naming the file, never a traceback ----------------------

BROKEN_MODELS = (
    "truncated", "random_bytes", "empty", "another_pickle", "file_missing", "changed_number",
)  # fmt: skip


def broken_model(model_dir: Path, tmp_path: Path, how: str) -> Path:
    """A copy of the exported model folder with its model file broken `how`."""
    folder = tmp_path / "broken_model"
    shutil.copytree(model_dir, folder)
    file = model_file(folder)
    if how == "truncated":
        data = file.read_bytes()
        file.write_bytes(data[: len(data) // 2])
    elif how == "random_bytes":
        file.write_bytes(random.Random(0).randbytes(64_000))
    elif how == "empty":
        file.write_bytes(b"")
    elif how == "another_pickle":
        joblib.dump({"weights": [1.0, 2.0]}, file)
    elif how in ("changed_number", "changed_tree"):
        # One byte of a LightGBM tree: a threshold's digit unpickles into a silently
        # different model; a field name makes LightGBM abort the whole process.
        data = bytearray(file.read_bytes())
        if how == "changed_number":
            at = data.index(b"threshold=") + len(b"threshold=")
            at += 1 if data[at : at + 1] == b"-" else 0
            data[at] = ord("7") if data[at] != ord("7") else ord("3")
        else:
            at = data.index(b"split_feature=")
            data[at + len(b"split_featur")] = ord("X")
        file.write_bytes(bytes(data))
    else:
        file.unlink()
    return folder


def refusal(how: str) -> str:
    """What the one-line error says about a model broken `how`."""
    return "not a creator-recommender model" if how == "another_pickle" else "not a readable model"


@pytest.mark.parametrize("how", BROKEN_MODELS)
def test_score_with_a_broken_model_is_a_one_line_error(how, model_dir, candidate_files, capsys):
    from recommender.cli import main

    folder = broken_model(model_dir, candidate_files, how)
    code = main(["score", "--creators", str(candidate_files / "creators.csv"),
                 "--campaign", str(candidate_files / "campaign.json"), "--model", str(folder),
                 "--out", str(candidate_files / "out.csv")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {folder}") and "Traceback" not in err
    assert refusal(how) in err, err


@pytest.mark.parametrize("how", BROKEN_MODELS)
def test_the_http_service_refuses_a_broken_model_at_start(how, model_dir, tmp_path):
    from recommender.serving import ServiceSettings, create_app

    folder = broken_model(model_dir, tmp_path, how)
    with pytest.raises(USER_ERRORS) as refused:
        create_app(ServiceSettings(model=str(folder)))
    message = str(refused.value)
    assert message.startswith(str(folder)) and "\n" not in message
    assert refusal(how) in message


def test_a_model_that_would_crash_lightgbm_is_refused_before_unpickling(model_dir, tmp_path):
    """LightGBM aborts the process (no exception) on a damaged tree, so such a file must be
    caught before it is unpickled; run in a separate process, which the abort would end."""
    folder = broken_model(model_dir, tmp_path, "changed_tree")
    (tmp_path / "creators.csv").write_text("creator_id,platform,followers,avg_likes,avg_comments,"
                                           "niche\na,instagram,1000,50,2,pet\n")  # fmt: skip
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    done = subprocess.run(
        [sys.executable, "-m", "recommender.cli", "score", "--creators", "creators.csv",
         "--campaign", "campaign.json", "--model", str(folder)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.startswith(f"error: {folder}") and "not a readable model" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


# --- replacing a model folder -------------------------------------------------------------


def folder(path: Path, text: str) -> Path:
    """A folder holding one file, version.txt, that says `text`."""
    path.mkdir()
    (path / "version.txt").write_text(text)
    return path


@pytest.mark.parametrize("one_step", [True, False])
def test_replace_folder_puts_the_new_folder_in_and_leaves_nothing_beside(
    tmp_path, monkeypatch, one_step
):
    if not one_step:
        monkeypatch.setattr(model_store._libc, "exchange", lambda new, old: False)
    target = tmp_path / "latest"
    replace_folder(folder(tmp_path / "first", "1"), target)  # nothing there yet
    replace_folder(folder(tmp_path / "second", "2"), target)
    assert (target / "version.txt").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]


def test_a_replacement_that_died_between_its_renames_is_undone_once(tmp_path):
    target = tmp_path / "latest"
    folder(previous_copy(target), "1")  # renamed away; the new one never came in
    assert restore_replaced(target) and (target / "version.txt").read_text() == "1"
    assert not restore_replaced(target)  # a folder is there: nothing to do
    folder(previous_copy(target), "0")  # a stale copy beside a complete folder stays put
    assert not restore_replaced(target) and (target / "version.txt").read_text() == "1"
    replace_folder(folder(tmp_path / "new", "2"), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]


STAGING_THEN_WAIT = """
import sys, time
from pathlib import Path
from recommender.mlops.model_store import staging_beside

with staging_beside(Path(sys.argv[1])) as staging:
    (staging / "model").mkdir()
    print(staging, flush=True)
    time.sleep(600)
"""


def staging_held_by_a_process(target: Path) -> tuple[subprocess.Popen[str], Path]:
    """A process building a model beside `target`, and its staging folder."""
    process = subprocess.Popen([sys.executable, "-c", STAGING_THEN_WAIT, str(target)],
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_staging_left_by_a_killed_process_is_removed_by_the_next_and_a_live_ones_kept(
    tmp_path,
):
    target = tmp_path / "champion"
    live, kept = staging_held_by_a_process(target)
    killed, left = staging_held_by_a_process(target)
    killed.kill()
    killed.wait()
    try:
        assert left.is_dir() and kept.is_dir()
        with model_store.staging_beside(target) as mine:
            assert sorted(p.name for p in tmp_path.iterdir()) == sorted([kept.name, mine.name])
        # Another machine's staging, of a pid not running here, is not this machine's to judge.
        prefix, machine, _, rest = kept.name.rsplit("-", 3)
        elsewhere = tmp_path / f"{prefix}-{'0' * len(machine)}-{killed.pid}-{rest}"
        elsewhere.mkdir()
        with model_store.staging_beside(target):
            pass
    finally:
        live.kill()
        live.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([elsewhere.name, kept.name])


def test_planning_with_a_broken_model_is_a_one_line_error(model_dir, market, tmp_path):
    """`plan` loads its model as `score` does (through load_model), so one case stands for all."""
    from recommender.api import plan

    folder = broken_model(model_dir, tmp_path, "truncated")
    with pytest.raises(ModelNotFound, match="not a readable model") as refused:
        plan(market.creators.head(20), CAMPAIGN, 1_000, str(folder))
    assert str(refused.value).startswith(str(folder)) and "\n" not in str(refused.value)


def test_the_docs_say_a_model_file_runs_code_when_loaded():
    page = (Path(__file__).resolve().parents[2] / "docs" / "commands.md").read_text()
    for text in (page, model_store.__doc__ or ""):
        flat = " ".join(text.split())
        assert "loading a model runs code" in flat or "loading one runs code" in flat
        assert "you or your team made" in flat


@pytest.mark.parametrize("change", ["cut_one_byte", "add_a_newline"])
def test_a_footer_changed_at_its_end_is_damage_not_an_old_file(model, tmp_path, change):
    path = tmp_path / "model.joblib"
    save_model(model, path)
    data = path.read_bytes()
    path.write_bytes(data[:-1] if change == "cut_one_byte" else data + b"\n")
    with pytest.raises(ModelNotFound, match="damaged: its checksum does not match"):
        read_model_file(path)
