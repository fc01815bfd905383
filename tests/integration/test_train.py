"""recommender.train: a folder or frames in, a validated, trained and measured model out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import recommender
from recommender.datasets.simulate import generate_market, write_market
from recommender.errors import DataFileError
from recommender.modeling.training import TrainConfig

QUICK = TrainConfig(seed=0, folds=2, n_estimators=60, losses=("l2", "huber"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small market on disk, one creator row broken, with its truth under truth/."""
    data = tmp_path_factory.mktemp("history") / "data"
    write_market(generate_market(n_creators=1_500, n_campaigns=20, seed=3), data)
    creators = pd.read_csv(data / "creators.csv", dtype=str, keep_default_na=False)
    creators.loc[7, "followers"] = "-3"
    creators.to_csv(data / "creators.csv", index=False)
    return data


@pytest.fixture(scope="module")
def trained_on_folder(folder: Path) -> tuple[recommender.TrainResult, list[str], Path]:
    """The folder trained on once: the result, what progress said, and the export."""
    said: list[str] = []
    exported = folder.parent / "model"
    result = recommender.train(folder, options=QUICK, model_dir=exported, progress=said.append)
    return result, said, exported


def test_a_folder_is_validated_trained_measured_and_exported(trained_on_folder):
    result, said, exported = trained_on_folder
    assert isinstance(result, recommender.TrainResult)
    assert result.truth == "noise-free"  # truth/expected_outcomes was found and used
    assert result.rejects["reject_reason"].str.startswith("followers: must be >= 0").any()
    assert result.rejects.columns[:2].tolist() == ["table", "reject_reason"]
    assert result.metrics.index[0] == "model" and result.run is None  # not tracked
    assert any(line.startswith("held-out campaigns, noise-free truth:") for line in said)
    held_out = result.test.head(20)
    from_disk = recommender.load_model(exported)
    pd.testing.assert_frame_equal(from_disk.predict(held_out), result.recommender.predict(held_out))


def test_frames_train_as_their_files_do(folder: Path, trained_on_folder):
    tables = {name: pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
              for name in ("creators", "campaigns", "outcomes")}  # fmt: skip
    from_frames = recommender.train(tables, options=QUICK)
    from_files = trained_on_folder[0]
    assert from_frames.truth == "measured" and from_files.truth == "noise-free"
    pd.testing.assert_frame_equal(
        from_frames.recommender.predict(from_files.test),
        from_files.recommender.predict(from_files.test),
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [("nowhere", "no such folder"), ({"creators": pd.DataFrame()}, "no campaigns, outcomes")],
)
def test_unusable_data_is_one_clear_error(tmp_path: Path, data: object, message: str):
    with pytest.raises(DataFileError, match=message):
        recommender.train(tmp_path / data if isinstance(data, str) else data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "where", ["file", "notes", "data", "parent", "dot", "model_and_notes", "under_a_file"]
)
def test_a_model_dir_that_would_destroy_something_is_refused_before_training(
    folder: Path, tmp_path: Path, where: str
):
    (tmp_path / "precious.csv").write_text("keep me\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "NOTES.txt").write_text("keep me\n")
    (tmp_path / "notes" / "MLmodel").write_text("an earlier model, and the user's notes\n")
    if where == "notes":
        (tmp_path / "notes" / "MLmodel").unlink()
    model_dir = {"file": tmp_path / "precious.csv", "notes": tmp_path / "notes",
                 "data": folder, "parent": folder.parent, "dot": Path("."),
                 "model_and_notes": tmp_path / "notes",
                 "under_a_file": tmp_path / "precious.csv" / "model"}[where]  # fmt: skip
    said: list[str] = []
    with pytest.raises(DataFileError, match="name a new folder"):
        recommender.train(folder, options=QUICK, model_dir=model_dir, progress=said.append)
    assert said == []  # refused before reading or training anything
    assert (tmp_path / "precious.csv").read_text() == "keep me\n"
    assert (tmp_path / "notes" / "NOTES.txt").is_file() and (folder / "creators.csv").is_file()


def test_a_model_dir_that_is_a_symlink_is_written_through(folder: Path, tmp_path: Path):
    (tmp_path / "v3").mkdir()
    (tmp_path / "latest").symlink_to(tmp_path / "v3")
    recommender.train(folder, options=QUICK, model_dir=tmp_path / "latest")
    assert (tmp_path / "latest").is_symlink() and (tmp_path / "v3" / "MLmodel").is_file()
