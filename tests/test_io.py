from __future__ import annotations

import pandas as pd
import pytest

from recommender.errors import DataFileError
from recommender.io import read_table, write_table


@pytest.mark.parametrize("ext", ["csv", "parquet", "jsonl"])
def test_round_trip_keeps_ids_as_text(tmp_path, ext):
    frame = pd.DataFrame({"creator_id": ["007", "x"], "followers": ["10", "20"]})
    path = tmp_path / f"t.{ext}"
    write_table(frame, path)
    back = read_table(path)
    assert back["creator_id"].tolist() == ["007", "x"]
    assert [str(v) for v in back["followers"]] == ["10", "20"]
    assert [p.name for p in tmp_path.iterdir()] == [f"t.{ext}"]  # no temp file left behind


def test_csv_cells_stay_as_written(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("a,b\n NA ,\nnan,-1\n")
    back = read_table(path)
    assert back["a"].tolist() == [" NA ", "nan"]
    assert back["b"].tolist() == ["", "-1"]


def test_parquet_of_mixed_rejected_values_is_written_as_text(tmp_path):
    frame = pd.DataFrame({"followers": [10, "many", None]}, dtype=object)
    write_table(frame, tmp_path / "r.parquet")
    assert read_table(tmp_path / "r.parquet")["followers"].tolist()[:2] == ["10", "many"]


def test_csv_of_mixed_values_and_text_with_commas(tmp_path):
    frame = pd.DataFrame(
        {"followers": [10, "many", None], "reasons": ['a, "b"', "", None], "x": [1.5, 2.0, None]}
    )
    frame["followers"] = frame["followers"].astype(object)  # Arrow cannot type this column
    for column in (["followers"], []):
        write_table(frame.drop(columns=column), tmp_path / "m.csv")
        back = read_table(tmp_path / "m.csv")
        assert back["reasons"].tolist() == ['a, "b"', "", ""]
        assert [float(v) if v else None for v in back["x"]] == [1.5, 2.0, None]
    assert back["followers"].tolist() == ["10", "many", ""]


def test_failed_write_leaves_the_old_file_alone(tmp_path, monkeypatch):
    path = tmp_path / "out.csv"
    path.write_text("old\n")

    def boom(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("recommender.io._to_csv", boom)
    with pytest.raises(RuntimeError):
        write_table(pd.DataFrame({"a": [1]}), path)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.txt", "a\n", "unknown file type '.txt'"),
        ("missing.csv", None, "no such file"),
        ("empty.csv", "", "file is empty"),
        ("bad.jsonl", '{"a": 1}\n{oops\n', "line 2 is not JSON"),
        ("list.jsonl", "[1, 2]\n", "line 1 is not a JSON object"),
        ("bad.parquet", "not parquet", "cannot read as parquet"),
    ],
)
def test_whole_file_problems_are_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataFileError) as info:
        read_table(path)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text
    assert "\n" not in text
