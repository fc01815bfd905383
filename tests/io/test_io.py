from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest

from recommender.errors import DataFileError
from recommender.io import check_outputs, read_chunks, read_table, table_layout, write_table


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

    monkeypatch.setattr("recommender.io.writers._to_csv", boom)
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
        ("list.jsonl", "[1, 2]\n", "expected JSON objects, one per row"),
        ("lines.jsonl", '{"a": 1}\n[1]\n', "expected JSON objects, one per row"),
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


# --- files as people export them ------------------------------------------------------

ROWS = [["Zoé", "12,5K"], ["bob", "3 400"]]


def table_bytes(delimiter: str, encoding: str, newline: str = "\n") -> bytes:
    lines = [delimiter.join(["Username", "Followers"])]
    lines += [delimiter.join(f'"{cell}"' if delimiter in cell else cell for cell in row)
              for row in ROWS]  # fmt: skip
    return (newline.join(lines) + newline).encode(encoding)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_exports_read_in_any_encoding_delimiter_and_line_ending(
    tmp_path, delimiter, encoding, newline
):
    path = tmp_path / "export.csv"
    path.write_bytes(table_bytes(delimiter, encoding, newline))
    back = read_table(path)
    assert back.columns.tolist() == ["Username", "Followers"]
    assert back.to_numpy().tolist() == ROWS


def test_a_utf8_file_with_a_stray_windows_byte_far_down_is_read(tmp_path):
    lines = ["creator_id,niche"] + [f"c{i},pets" for i in range(20_000)] + ["z,caf\xe9"]
    path = tmp_path / "mixed.csv"
    path.write_bytes("\n".join(lines).encode("utf-8")[:-5] + "caf\xe9\n".encode("cp1252"))
    back = read_table(path)
    assert back["niche"].iloc[-1] == "café" and len(back) == 20_001


@pytest.mark.parametrize("content", ["a,b,a\n1,2,3\n", "a;b; a \n1;2;3\n"])
def test_a_header_naming_a_column_twice_is_one_line(tmp_path, content):
    path = tmp_path / "twice.csv"
    path.write_text(content)
    with pytest.raises(DataFileError, match="column 'a' appears more than once"):
        read_table(path)


def test_xlsx_reads_the_first_sheet_or_the_one_named(tmp_path):
    path = tmp_path / "export.xlsx"
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"Username": ["a", "007"], "Followers": [1500, 2.5]}).to_excel(
            book, sheet_name="Creators", index=False
        )
        pd.DataFrame({"Username": ["z"]}).to_excel(book, sheet_name="Other", index=False)
    first = read_table(path)
    assert first["Username"].tolist() == ["a", "007"]
    assert first["Followers"].tolist() == [1500, 2.5]
    assert read_table(path, sheet="Other")["Username"].tolist() == ["z"]
    assert read_table(path, sheet="other")["Username"].tolist() == ["z"]
    with pytest.raises(DataFileError, match="no sheet 'Nope'; its sheets are 1 'Creators', 2 'Ot"):
        read_table(path, sheet="Nope")
    with pytest.raises(DataFileError, match=r"not \.xlsx"):
        read_table(tmp_path / "x.csv", sheet="Other")


def test_xlsx_blank_rows_are_not_rows_and_a_repeated_header_is_refused(tmp_path):
    path = tmp_path / "export.xlsx"
    pd.DataFrame([["a", 1], [None, None], ["b", 2]], columns=["x", "y"]).to_excel(path, index=False)
    assert read_table(path)["x"].tolist() == ["a", "b"]
    pd.DataFrame([["a", 1]], columns=["x", "y"]).rename(columns={"y": "x"}).to_excel(
        path, index=False
    )
    with pytest.raises(DataFileError, match="column 'x' appears more than once"):
        read_table(path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("array.json", '[{"a": "007", "b": 1}, {"a": "x", "b": [2]}]'),
        ("lines.jsonl", '{"a": "007", "b": 1}\n\n{"a": "x", "b": [2]}\n'),
        ("lines.json", '{"a": "007", "b": 1}\n{"a": "x", "b": [2]}\n'),
        ("bom.json", '\ufeff[{"a": "007", "b": 1}, {"a": "x", "b": [2]}]'),
    ],
)
def test_json_arrays_and_lines_with_or_without_a_bom(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    back = read_table(path)
    assert back["a"].tolist() == ["007", "x"] and back["b"].tolist() == [1, [2]]


def test_one_json_object_is_one_row(tmp_path):
    path = tmp_path / "campaign.json"
    path.write_text('{\n  "campaign_id": "k1",\n  "niche": "pet"\n}\n', encoding="utf-8-sig")
    assert read_table(path).to_dict("records") == [{"campaign_id": "k1", "niche": "pet"}]


# --- outputs --------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
@pytest.mark.parametrize("ext", ["csv", "parquet", "jsonl"])
def test_outputs_respect_the_umask(tmp_path, umask, ext):
    old = os.umask(umask)
    try:
        write_table(pd.DataFrame({"a": [1]}), tmp_path / f"t.{ext}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / f"t.{ext}").stat().st_mode) == 0o666 & ~umask


def test_rewriting_a_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text("a\n1\n")
    path.chmod(0o664)
    write_table(pd.DataFrame({"a": [1, 2]}), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    assert read_table(path)["a"].tolist() == ["1", "2"]


@pytest.mark.parametrize("ext", ["csv", "parquet", "jsonl"])
def test_lists_and_mappings_in_cells_are_written(tmp_path, ext):
    frame = pd.DataFrame({"creator_id": ["a", "b", "c"], "tags": [["dog", "cat"], None, {"k": 1}]})
    write_table(frame, tmp_path / f"t.{ext}")
    back = read_table(tmp_path / f"t.{ext}")
    if ext == "jsonl":  # JSON keeps them as they are
        assert back["tags"].tolist()[0] == ["dog", "cat"]
    else:  # as JSON text
        assert back["tags"].tolist()[0] == '["dog", "cat"]'
        assert back["tags"].tolist()[2] == '{"k": 1}'


def test_csv_cells_a_spreadsheet_would_run_are_quoted(tmp_path):
    cells = ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "-5", "+2.1%",
             "1,200", "plain", "\tx"]  # fmt: skip
    for frame in (
        pd.DataFrame({"c": cells}),
        pd.DataFrame({"c": cells, "mixed": [1, "x"] * 4 + [0]}),
    ):
        write_table(frame, tmp_path / "t.csv")
        back = read_table(tmp_path / "t.csv")["c"].tolist()
        assert back == ["'" + c for c in cells[:4]] + cells[4:8] + ["'\tx"]


def test_a_killed_write_leaves_no_file_behind(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, signal
        from recommender.io import atomic_path
        with atomic_path({str(tmp_path / "out.csv")!r}) as name:
            open(name, "w").write("half")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], check=False)
    assert result.returncode == -signal.SIGKILL
    assert list(tmp_path.iterdir()) == []


def test_outputs_that_would_replace_an_input_or_each_other_are_refused(tmp_path):
    given = tmp_path / "creators.csv"
    given.write_text("a\n")
    (tmp_path / "folder.csv").mkdir()
    cases = {
        "the output would replace the creators file": ({"output": given}, {}),
        "the rejects file would replace the output": (
            {"output": tmp_path / "o.csv", "rejects file": tmp_path / "sub" / ".." / "o.csv"},
            {},
        ),
        "is a folder": ({"output": tmp_path / "folder.csv"}, {}),
        "is a file, not a folder": ({"output": given / "x.csv"}, {}),
        "unknown file type '.txt'": ({"output": tmp_path / "x.txt"}, {}),
        "cannot write xlsx": ({"output": tmp_path / "x.xlsx"}, {}),
    }
    for message, (outputs, more) in cases.items():
        with pytest.raises(DataFileError, match=re.escape(message)):
            check_outputs(outputs, {"creators file": given, **more})
    check_outputs({"output": tmp_path / "new" / "o.csv"}, {"creators file": given})  # fine


def test_an_output_in_a_folder_one_cannot_write_is_refused():
    with tempfile.TemporaryDirectory() as folder:  # in /tmp, so another user can reach it
        os.chmod(folder, 0o755)
        locked = Path(folder) / "locked"
        locked.mkdir(mode=0o555)
        check_as_another_user(locked)


def check_as_another_user(locked: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from recommender.errors import DataFileError
        from recommender.io import check_outputs
        if os.geteuid() == 0:  # root writes anywhere: check as nobody
            os.setgid(65534); os.setuid(65534)
        try:
            check_outputs({{"output": {str(locked / "o.csv")!r}}}, {{}})
        except DataFileError as exc:
            print(exc)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False, cwd="/")  # fmt: skip
    assert f"no permission to write in {locked}" in result.stdout, result.stderr


def test_a_tsv_is_written_with_tabs(tmp_path):
    write_table(pd.DataFrame({"a": ["x,y"], "b": [1]}), tmp_path / "t.tsv")
    assert (tmp_path / "t.tsv").read_text() == '"a"\t"b"\n"x,y"\t1\n'


def test_the_packages_own_words_are_left_as_written(tmp_path):
    frame = pd.DataFrame({"reasons": ["+ engagement rate 9%"], "niche": ["+ engagement"]})
    write_table(frame, tmp_path / "t.csv", own_words=("reasons",))
    back = read_table(tmp_path / "t.csv")
    assert back.to_dict("records") == [
        {"reasons": "+ engagement rate 9%", "niche": "'+ engagement"}
    ]


# --- what a user's probe found --------------------------------------------------------


def test_an_output_through_a_missing_folder_and_dotdot_is_the_input(tmp_path):
    given = tmp_path / "creators.csv"
    given.write_text("a\n")
    for spelling in (tmp_path / "missing" / ".." / "creators.csv",
                     tmp_path / "a" / "b" / ".." / ".." / "creators.csv"):  # fmt: skip
        with pytest.raises(DataFileError, match="would replace the creators file"):
            check_outputs({"output": spelling}, {"creators file": given})
    with pytest.raises(DataFileError, match="is a folder"):
        check_outputs({"rejects file": tmp_path}, {})


@pytest.mark.parametrize(
    ("content", "rows"),
    [
        ("a,b,c\n1,2,3,\n4,5,6,\n", [["1", "2", "3"], ["4", "5", "6"]]),  # every line ends with ,
        ("a;b\r1;2\r3;4\r", [["1", "2"], ["3", "4"]]),  # Excel for Mac's line ends
        ("a;b;c\n1;2,5;3\n4;5;6\nExported by Platform X\n", [["1", "2,5", "3"], ["4", "5", "6"],
                                                            ["Exported by Platform X", "", ""]]),
    ],
)  # fmt: skip
def test_layouts_exports_have_are_read(tmp_path, content, rows):
    (tmp_path / "t.csv").write_text(content, newline="")
    back = read_table(tmp_path / "t.csv")
    assert back.to_numpy().tolist() == rows


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b,c\n1,2,3,9\n4,5,6\n", "a row has more cells than the header"),
        ("a,b,c\n1,2,3\n4,5,6,7\n", "line 3 has 4 cells, the header 3"),
    ],
)
def test_a_row_longer_than_the_header_is_one_line_not_a_shift(tmp_path, content, message):
    (tmp_path / "t.csv").write_text(content)
    with pytest.raises(DataFileError, match=message):
        read_table(tmp_path / "t.csv")


def test_binary_named_csv_is_one_line(tmp_path):
    pd.DataFrame({"a": [1]}).to_excel(tmp_path / "t.xlsx", index=False)
    (tmp_path / "t.csv").write_bytes((tmp_path / "t.xlsx").read_bytes())
    with pytest.raises(DataFileError, match="not text"):
        read_table(tmp_path / "t.csv")


def test_utf8_text_stays_utf8_beside_a_stray_windows_byte(tmp_path):
    content = "creator_id,niche\ncafé_olé,🐶\n".encode() + "zoé,pets\n".encode("cp1252")
    (tmp_path / "t.csv").write_bytes(content)
    assert read_table(tmp_path / "t.csv").to_numpy().tolist() == [["café_olé", "🐶"],
                                                                  ["zoé", "pets"]]  # fmt: skip


def test_a_gzipped_semicolon_csv_is_read_and_compressed_outputs_refused(tmp_path):
    import gzip

    (tmp_path / "t.csv.gz").write_bytes(gzip.compress("a;b\n1,5;2\n".encode("cp1252")))
    assert read_table(tmp_path / "t.csv.gz").to_numpy().tolist() == [["1,5", "2"]]
    with pytest.raises(DataFileError, match="cannot write compressed files"):
        check_outputs({"output": tmp_path / "o.csv.gz"}, {})


def test_xlsx_text_is_kept_and_generated_names_do_not_collide(tmp_path):
    frame = pd.DataFrame([["a", "NA", "null", 1, "x"]],
                         columns=["Username", "Country", "Bio", None, "Unnamed: 3"])  # fmt: skip
    frame.to_excel(tmp_path / "t.xlsx", index=False)
    back = read_table(tmp_path / "t.xlsx")
    assert back.columns.tolist() == ["Username", "Country", "Bio", "Unnamed: 3_", "Unnamed: 3"]
    assert back.iloc[0].tolist() == ["a", "NA", "null", 1, "x"]


def test_json_outputs_write_dates_as_iso_text(tmp_path):
    write_table(pd.DataFrame({"joined": pd.to_datetime(["2020-01-05"])}), tmp_path / "t.jsonl")
    assert (tmp_path / "t.jsonl").read_text().startswith('{"joined":"2020-01-05T00:00:00')


def test_csv_headers_a_spreadsheet_would_run_are_quoted(tmp_path):
    frame = pd.DataFrame({"=HYPERLINK(1)": [1], "-5": [2], "ok": [3], "": [4]})
    write_table(frame, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == '"\'=HYPERLINK(1)","-5","ok",""'


def test_a_json_api_answer_wrapping_its_rows_is_read(tmp_path):
    (tmp_path / "t.json").write_text('{"data": [{"a": "x"}, {"a": "y"}]}')
    assert read_table(tmp_path / "t.json")["a"].tolist() == ["x", "y"]


def test_an_output_that_is_a_symlink_is_written_through(tmp_path):
    (tmp_path / "real.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    write_table(pd.DataFrame({"a": [1]}), tmp_path / "link.csv")
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "real.csv").read_text() == '"a"\n1\n'


def test_a_device_or_pipe_is_never_replaced_by_an_output(tmp_path):
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "null.csv").symlink_to("/dev/null")
    for name in ("pipe.csv", "null.csv"):
        with pytest.raises(DataFileError, match="is not a regular file"):
            check_outputs({"rejects file": tmp_path / name}, {})
        with pytest.raises(DataFileError, match="is not a regular file"):
            write_table(pd.DataFrame({"a": [1]}), tmp_path / name)
    assert stat.S_ISFIFO((tmp_path / "pipe.csv").stat().st_mode)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_value_after_the_trailing_delimiter_far_down_is_refused_not_dropped(tmp_path):
    lines = ["a,b,c"] + ["1,2,3,"] * 300 + ["7,8,9,EXTRA"]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFileError, match=r"more cells than the header.*data row 301"):
        read_table(tmp_path / "t.csv")
    with pytest.raises(DataFileError, match="data row 301"):
        list(read_chunks(tmp_path / "t.csv", 100))


def test_reading_in_chunks_leaves_warnings_alone_between_chunks(tmp_path):
    (tmp_path / "t.csv").write_text("a\n" + "1\n" * 10)
    chunks = read_chunks(tmp_path / "t.csv", 3)
    next(chunks)
    with pytest.warns(pd.errors.ParserWarning):  # not turned into an error while paused
        warnings.warn("a caller's own", pd.errors.ParserWarning, stacklevel=1)
    assert sum(len(c) for c in chunks) == 7


@pytest.mark.parametrize("existing_mode", [0o444, 0o640])
@pytest.mark.parametrize("unnamed", [True, False])
def test_the_fallback_writer_keeps_modes_and_the_umask_too(
    tmp_path, monkeypatch, existing_mode, unnamed
):
    if not unnamed:  # as on a filesystem without O_TMPFILE, or not Linux
        monkeypatch.setattr("recommender.io.outputs.unnamed_file_or_none", lambda folder: None)
    (tmp_path / "old.csv").write_text("a\n")
    (tmp_path / "old.csv").chmod(existing_mode)
    old = os.umask(0o077)
    try:
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "old.csv")
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "new.csv")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "old.csv").stat().st_mode) == existing_mode
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv", "old.csv"]


# --- NUL bytes, sheets, title rows, empty tables, JSON as written (issue 25) -------------

CREATOR_ROW = "instagram,1000,50,2,pet"


@pytest.mark.parametrize("row", [1, 5_000])  # in the first bytes looked at, or far below them
def test_a_nul_byte_is_read_into_its_cell_wherever_it_is(tmp_path, row):
    lines = ["creator_id,platform,followers,avg_likes,avg_comments,niche"]
    lines += [f"c{i},{CREATOR_ROW}" for i in range(6_000)]
    lines[row] = f"c{row - 1},{CREATOR_ROW.replace('pet', 'p' + chr(0) + 'et')}"
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    back = read_table(tmp_path / "t.csv")
    assert len(back) == 6_000 and back["niche"].iloc[row - 1] == "p\0et"


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"PAR1" + bytes(200), "a Parquet file"),
        (b"\x1f\x8b\x08\x00" + bytes(50), "gzip-compressed: name it .csv.gz"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(50), "an old .xls workbook"),
        (bytes(range(256)) * 4, "not text"),  # no known format, and no text either
    ],
    ids=["parquet", "gzip", "xls", "random bytes"],
)
def test_a_binary_file_named_csv_is_still_not_text(tmp_path, content, what):
    (tmp_path / "t.csv").write_bytes(content)
    with pytest.raises(DataFileError, match="not text") as info:
        read_table(tmp_path / "t.csv")
    assert what in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"creator_id,ni\0che\na,pet\n", "a,b\n1,2\n".encode("utf-16-le"), bytes(100)],
    ids=["a stray NUL", "utf-16 without a BOM", "zeros"],
)
def test_a_nul_byte_in_the_header_is_a_whole_file_problem(tmp_path, content):
    (tmp_path / "t.csv").write_bytes(content)
    with pytest.raises(DataFileError, match="the header holds a NUL byte"):
        read_table(tmp_path / "t.csv")


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """An .xlsx of these sheets, each a list of rows as written (None: an empty cell)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_sheets_are_counted_from_one_as_spreadsheets_count_them(tmp_path):
    path = workbook(tmp_path / "t.xlsx", {"Summary": [["id", "x"], ["s", 1]],
                                          "Creators": [["id", "x"], ["c", 2]]})  # fmt: skip
    assert read_table(path, sheet="1")["id"].tolist() == ["s"]
    assert read_table(path, sheet=2)["id"].tolist() == ["c"]
    assert read_table(path, sheet="creators")["id"].tolist() == ["c"]  # a name in any case
    for wrong in ("0", "3"):
        with pytest.raises(DataFileError, match=r"no sheet .*its sheets are 1 'Summary', 2 'Cre"):
            read_table(path, sheet=wrong)
    assert table_layout(path, "2").sheet_text() == "sheet 'Creators', 2 of 2"
    assert table_layout(path).notes() == ["read sheet 'Summary', 1 of 2"]


TITLED = [
    ["Creators export"], ["March 2025", None, "page 1"], [],
    ["Username", "Platform", "Followers", "Avg Likes", "Avg Comments", "Category"],
    ["a", "instagram", 1500.0, "#DIV/0!", 3, "pet"], [], ["b", "TikTok", 20, 4, 5, "food"],
]  # fmt: skip


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_title_rows_above_the_header_are_skipped_and_said(tmp_path, ext):
    path = tmp_path / f"t.{ext}"
    if ext == "xlsx":
        workbook(path, {"Creators": TITLED})
    else:
        path.write_text("\n".join(",".join("" if c is None else str(c) for c in row)
                                  for row in TITLED) + "\n")  # fmt: skip
    back = read_table(path)
    assert back.columns.tolist() == TITLED[3]
    assert back["Username"].tolist() == ["a", "b"]
    assert back["Avg Likes"].tolist()[0] == "#DIV/0!"  # an Excel error stays as it shows
    layout = table_layout(path)
    assert (layout.header_row, layout.skipped) == (4, 2)
    assert layout.notes()[-1] == "the header is on row 4: skipped 2 rows above it"
    assert sum(len(chunk) for chunk in read_chunks(path, 1)) == 2


@pytest.mark.parametrize(
    "content",
    [
        "Username;Platform;Followers\na;instagram;1\n",  # a header first: as ever
        "creator_id,platform,niche\nuser,platform,niche\n",  # a row like a header: data
        "\n\ncreator_id,platform\na,instagram\n",  # blank lines before the header
    ],
)
def test_a_header_on_the_first_row_with_cells_is_the_header(tmp_path, content):
    (tmp_path / "t.csv").write_text(content)
    assert table_layout(tmp_path / "t.csv").notes() == []
    assert len(read_table(tmp_path / "t.csv")) == 1


def test_a_header_no_synonym_knows_below_a_title_is_pointed_at(tmp_path):
    (tmp_path / "t.csv").write_text("Rapport mensuel\n\nNom,Abonnés,Pays\na,10,FR\nb,20,BE\n")
    with pytest.raises(DataFileError, match="the header seems to be on row 3"):
        read_table(tmp_path / "t.csv")
    (tmp_path / "one.csv").write_text("creator_id\na;b\nc\n")  # one column, a ; in a cell
    assert read_table(tmp_path / "one.csv")["creator_id"].tolist() == ["a;b", "c"]


@pytest.mark.parametrize("ext", ["csv", "xlsx", "parquet", "json", "jsonl"])
def test_a_file_with_a_header_and_no_rows_is_refused_where_rows_are_needed(tmp_path, ext):
    path = tmp_path / f"t.{ext}"
    empty = pd.DataFrame({"creator_id": pd.Series(dtype=str)})
    if ext == "xlsx":
        workbook(path, {"Creators": [["creator_id"], [], []]})
    elif ext in ("json", "jsonl"):
        path.write_text("[]\n")
    else:
        write_table(empty, path)
    assert len(read_table(path)) == 0  # as a table, it may be empty
    with pytest.raises(DataFileError, match="the file has no data rows"):
        read_table(path, require_rows=True)
    with pytest.raises(DataFileError, match="the file has no data rows"):
        list(read_chunks(path, 10))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.json", '[{"creator_id": "a", "followers": 1, "followers": 2}]', "'followers' twice"),
        ("a.jsonl", '{"creator_id": "a"}\n{"niche": "pet", "niche": "food"}\n',
         "line 2 gives 'niche' twice"),
        ("campaign.json", '{"campaign_id": "k", "niche": "pet", "niche": "food"}',
         "'niche' twice"),
        ("nested.json", '[{"creator_id": "a", "tags": {"x": 1, "x": 2}}]', "'x' twice"),
    ],
)  # fmt: skip
def test_a_json_key_given_twice_refuses_the_file_naming_it(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(DataFileError, match=message) as info:
        read_table(tmp_path / name)
    assert "keep one" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("ext", ["json", "jsonl"])
def test_a_number_of_thousands_of_digits_in_json_stays_its_text(tmp_path, ext):
    digits = "7" * 5_000
    (tmp_path / f"t.{ext}").write_text(
        f'{{"creator_id": "a", "followers": {digits}, "score": {digits}.5, "n": 12}}\n'
    )
    back = read_table(tmp_path / f"t.{ext}")
    assert back["followers"].item() == digits and back["score"].item() == f"{digits}.5"
    assert back["n"].item() == 12


# --- a run's files are one set; folders; keys (issue 25) --------------------------------


def write_set(outputs, folder: Path, text: str, names=("out.csv", "rejects.csv", "s.json")):
    outputs.table(pd.DataFrame({"a": [text]}), folder / names[0])
    outputs.table(pd.DataFrame({"b": [text]}), folder / names[1])
    outputs.json({"run": text}, folder / names[2])


@pytest.mark.parametrize("exchange", [True, False])
@pytest.mark.parametrize("failing", [1, 2, 3])
def test_a_set_is_put_in_place_whole_or_not_at_all(tmp_path, monkeypatch, failing, exchange):
    """A rename that fails midway (a full disk) puts back the files already replaced."""
    from helpers import files_in, rename_fails

    from recommender.io import output_set

    with output_set() as outputs:
        write_set(outputs, tmp_path, "old")
    before = files_in(tmp_path)
    if not exchange:  # as where renameat2 cannot swap two files: two renames each
        monkeypatch.setattr("recommender._libc.exchange", lambda a, b: False)
    rename_fails(monkeypatch, tmp_path, failing)
    failure = pytest.raises(DataFileError, match="cannot be put in place: No space left")
    with failure as info, output_set() as outputs:
        write_set(outputs, tmp_path, "new")
    assert "\n" not in str(info.value) and "no output was replaced" in str(info.value)
    assert files_in(tmp_path) == before  # nothing hidden left behind either
    monkeypatch.undo()
    with output_set() as outputs:
        write_set(outputs, tmp_path, "new")
    assert read_table(tmp_path / "rejects.csv")["b"].tolist() == ["new"]
    assert sorted(files_in(tmp_path)) == ["out.csv", "rejects.csv", "s.json"]


def test_an_error_before_the_commit_writes_nothing_and_says_so(tmp_path):
    from recommender.io import output_set

    with output_set() as outputs:
        write_set(outputs, tmp_path, "old")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    paths = (tmp_path / "out.csv", tmp_path / "rejects.csv")
    with pytest.raises(KeyboardInterrupt) as info, output_set(*paths) as outputs:
        outputs.table(pd.DataFrame({"a": ["new"]}), tmp_path / "out.csv")
        raise KeyboardInterrupt
    assert info.value.__notes__ == [
        f"nothing was written: {tmp_path / 'out.csv'} and {tmp_path / 'rejects.csv'} are as "
        "they were"
    ]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_member_the_run_did_not_write_is_removed_at_commit(tmp_path):
    """An earlier run's figure must not sit beside a new plan as if it were its own."""
    from recommender.io import output_set

    (tmp_path / "plan.png").write_bytes(b"an earlier plan's figure")
    (tmp_path / "linked.png").symlink_to(tmp_path / "plan.png")
    with output_set(tmp_path / "plan.csv", tmp_path / "plan.png") as outputs:
        outputs.table(pd.DataFrame({"a": [1]}), tmp_path / "plan.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linked.png", "plan.csv"]
    (tmp_path / "plan.png").write_bytes(b"figure")
    with output_set(tmp_path / "plan.csv", tmp_path / "linked.png") as outputs:
        outputs.table(pd.DataFrame({"a": [2]}), tmp_path / "plan.csv")
    assert (tmp_path / "plan.png").read_bytes() == b"figure"  # not through a symlink


def test_ctrl_c_during_the_commit_acts_once_the_set_is_in_place(tmp_path, monkeypatch):
    from recommender.io import outputs as io_outputs

    with io_outputs.output_set() as outputs:
        write_set(outputs, tmp_path, "old")
    real_swap = io_outputs.swap

    def swap_then_ctrl_c(new: Path, target: Path) -> Path | None:
        os.kill(os.getpid(), signal.SIGINT)  # as a Ctrl-C between two renames
        return real_swap(new, target)

    monkeypatch.setattr(io_outputs, "swap", swap_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt) as info, io_outputs.output_set() as outputs:
        write_set(outputs, tmp_path, "new")
    assert not getattr(info.value, "__notes__", None)  # written: no "nothing was written"
    assert read_table(tmp_path / "out.csv")["a"].tolist() == ["new"]
    assert read_table(tmp_path / "rejects.csv")["b"].tolist() == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "rejects.csv", "s.json"]


def test_a_full_disk_while_writing_names_the_file(tmp_path, monkeypatch):
    import errno

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write() answers

    monkeypatch.setattr("pyarrow.csv.write_csv", full)
    with pytest.raises(DataFileError) as info:
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "out.csv")
    assert str(info.value) == (
        f"{tmp_path / 'out.csv'}: cannot be written: No space left on device; "
        "no output was replaced"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_file_system_is_said_as_such(tmp_path, monkeypatch):
    """os.access says "no permission" for a read-only mount (to root as well)."""
    real = os.statvfs

    def read_only(path: object) -> os.statvfs_result:
        found = real(path)  # type: ignore[arg-type]
        return os.statvfs_result((*found[:8], found.f_flag | os.ST_RDONLY, found.f_namemax))

    monkeypatch.setattr(os, "statvfs", read_only)
    with pytest.raises(DataFileError) as info:
        check_outputs({"output": tmp_path / "new" / "o.csv"}, {})
    assert str(info.value) == (
        f"{tmp_path / 'new' / 'o.csv'}: cannot be written, {tmp_path} is on a read-only file system"
    )


def test_an_output_inside_an_input_folder_is_refused(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    pd.DataFrame({"a": ["x"]}).to_parquet(parts / "part-0.parquet")
    (tmp_path / "link").symlink_to(parts)
    inside = (parts / "scored.csv", parts / "sub" / "scored.csv", tmp_path / "link" / "o.csv",
              tmp_path / "x" / ".." / "parts" / "o.csv")  # fmt: skip
    for output in inside:
        with pytest.raises(DataFileError, match="would be inside the creators file, a folder"):
            check_outputs({"output": output}, {"creators file": parts})
    check_outputs({"output": tmp_path / "parts.csv"}, {"creators file": parts})  # beside: fine


def test_a_folder_is_read_from_its_own_part_files_only(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    for i in range(2):
        pd.DataFrame({"creator_id": [f"c{i}"]}).to_parquet(parts / f"part-{i}.parquet")
    (parts / "_SUCCESS").write_text("")
    assert read_table(parts)["creator_id"].tolist() == ["c0", "c1"]
    assert [c["creator_id"].tolist() for c in read_chunks(parts, 10)] == [["c0"], ["c1"]]
    # An earlier output left inside (a Spark run's folder): its rows are not read twice.
    (parts / "scored.parquet").mkdir()
    pd.DataFrame({"creator_id": ["c0"]}).to_parquet(parts / "scored.parquet" / "part-0.parquet")
    for read in (read_table, lambda p: list(read_chunks(p, 10))):
        with pytest.raises(DataFileError) as info:
            read(parts)
        assert str(info.value).startswith(f"{parts / 'scored.parquet'}: a folder inside")
    # A file that is not a part: said naming it, not the folder.
    (parts / "scored.parquet" / "part-0.parquet").unlink()
    (parts / "scored.parquet").rmdir()
    (parts / "scored.summary.json").write_text("{}")
    with pytest.raises(DataFileError, match=re.escape(f"{parts / 'scored.summary.json'}: cannot")):
        list(read_chunks(parts, 10))


def test_key_columns_keep_ids_that_call_nothing(tmp_path):
    """`@handle` ids stay as written in key columns (files join on them); a key that could
    call something, and every other column, keep the formula guard."""
    ids = ["@handle", "@first.last_1", "-dash", "@zoé", "=1+1", "@SUM(A1)", "+cmd|' /C calc'!A0"]
    for frame in (
        pd.DataFrame({"creator_id": ids, "campaign_id": "@k", "manager": "@handle"}),
        pd.DataFrame({"creator_id": ids, "campaign_id": "@k", "manager": "@handle",
                      "mixed": [1, "x"] * 3 + [0]}),  # pandas' writer: Arrow cannot type it
    ):  # fmt: skip
        write_table(frame, tmp_path / "t.csv")
        back = read_table(tmp_path / "t.csv")
        assert back["creator_id"].tolist() == ids[:4] + ["'" + i for i in ids[4:]]
        assert back["campaign_id"].tolist() == ["@k"] * len(ids)
        assert back["manager"].tolist() == ["'@handle"] * len(ids)
