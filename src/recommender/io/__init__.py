"""The only code that opens files: tables read as people export them, and outputs
written whole or not at all, a run's files as one set.

    paths    what a path names: its format, a folder's parts, a data folder's tables
    readers  read_table and read_chunks: CSV, Parquet (a file or a folder of parts),
             JSON and XLSX as exported (encodings, delimiters, title rows, sheets)
    writers  tables in the format a path names, CSV with its formula guard
    outputs  write_table, output_set, check_outputs: whole or not at all
"""

from __future__ import annotations

from recommender.io._atomic import unnamed_file
from recommender.io._csv import csv_dialect
from recommender.io.outputs import (
    OutputSet,
    atomic_path,
    check_outputs,
    output_set,
    streamed_table,
    write_error,
    write_json,
    write_table,
)
from recommender.io.paths import (
    FORMATS,
    TABLE_EXTENSIONS,
    WRITABLE,
    file_format,
    find_table,
    folder_lock,
    inner_folder_text,
    is_part_name,
    output_format,
    part_files,
)
from recommender.io.readers import (
    NO_ROWS,
    Layout,
    read_chunks,
    read_table,
    sheet_headers,
    table_layout,
)
from recommender.io.writers import (
    TableWriter,
    arrow_table,
    write_frame,
)

__all__ = [
    "FORMATS",
    "NO_ROWS",
    "TABLE_EXTENSIONS",
    "WRITABLE",
    "Layout",
    "OutputSet",
    "TableWriter",
    "arrow_table",
    "atomic_path",
    "check_outputs",
    "csv_dialect",
    "file_format",
    "find_table",
    "folder_lock",
    "inner_folder_text",
    "is_part_name",
    "output_format",
    "output_set",
    "part_files",
    "read_chunks",
    "read_table",
    "sheet_headers",
    "streamed_table",
    "table_layout",
    "unnamed_file",
    "write_error",
    "write_frame",
    "write_json",
    "write_table",
]
