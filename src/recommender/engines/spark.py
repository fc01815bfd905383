"""Score on Spark: the same library function on each partition, for inputs beyond one machine.

    score_on_spark(creators, campaign, out, rejects=None, model=None, master=None)

The input (a Parquet file or folder, or CSV) is partitioned by each row's key
(creator, or campaign and creator) and sorted back into file order within its
partition, so that `candidate_pairs` on each partition sees every copy of a key
in the order the file holds them: duplicates are judged exactly as the local
engine judges them (the first otherwise valid row wins). Each partition is then
validated and scored by the local engine's own functions (`mapInPandas`), with
the model shipped to the executors once (a broadcast). Ranks come from a window
per campaign over the whole input. Outputs are Parquet folders, written to a
hidden temporary folder beside `out` and renamed into place at the end, so a
killed job leaves `out` as it was.
"""

from __future__ import annotations

import importlib
import json
import os
import posixpath
import re
import secrets
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

import pandas as pd

from recommender import config, contract
from recommender.engines.local import valid_campaigns
from recommender.errors import DataFileError, MissingExtra, ScoringError, one_line
from recommender.io import csv_dialect, file_format, inner_folder_text, is_part_name, unnamed_file
from recommender.mlops.model_store import ModelIdentity, ModelRef, loaded_model
from recommender.scoring import (
    candidate_pairs,
    own_output_columns,
    read_names,
    scored_rows,
)

if TYPE_CHECKING:
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import DataFrame, SparkSession

MASTER_ENV = "SPARK_MASTER"
# Input columns travel as _c0, _c1...: these cannot be taken for one of them.
REJECT = "__reject_reason"
ROW = "__row_id"
FILE = "__file"
KEY = "__key"
PREDICTED = {  # scored_rows' columns as Spark types (rank comes later)
    c: "string" if c in ("campaign_id", "creator_id", "tier", *contract.EXPLANATION_COLUMNS)
    else "double"
    for c in contract.SCORED_COLUMNS if c != "rank"
}  # fmt: skip
QUIET_LOG = Path(__file__).with_name("spark-log4j2.properties")
KIND_TYPES = {contract.Kind.INT: "bigint", contract.Kind.FLOAT: "double"}  # other kinds: string
SUMMARY = "_summary.json"  # the run, in both output folders: it marks them as this engine's
INSTALL = "pip install 'creator-recommender[spark]'"  # a plain install leaves PySpark out


@dataclass(frozen=True)
class SparkReport:
    """What a Spark scoring run did: rows in, scored rows, rejected rows, where they went."""

    rows_in: int
    scored: int
    rejected: int
    campaigns: int
    out: str
    rejects: str
    model: ModelIdentity
    seconds: float

    def summary(self) -> dict[str, Any]:
        """The run as JSON-ready fields, as the local engine's summary has them."""
        return {
            "engine": "spark", "rows_in": self.rows_in, "scored": self.scored,
            "rejected": self.rejected, "campaigns": self.campaigns,
            "model": self.model.as_dict(), "seconds": {"total": round(self.seconds, 3)},
        }  # fmt: skip


def spark_session(master: str | None = None) -> SparkSession:
    """The session to score on: `master`, else $SPARK_MASTER, else the active session,
    else a new local[*] one. A session this makes runs its Python workers on this
    interpreter, with no web UI, and keeps the JVM's own output (its log, its warnings)
    off the terminal: a failure reaches the caller as an exception; MissingExtra when
    PySpark is not installed."""
    _require_pyspark()
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    master = master or os.environ.get(MASTER_ENV)
    active = SparkSession.getActiveSession()
    if master is None and (active is not None or "PYSPARK_GATEWAY_PORT" in os.environ):
        # A notebook's session, or spark-submit's JVM: the cluster was chosen already.
        return active or SparkSession.builder.getOrCreate()
    # PySpark 4.3 warns that pandas 3 is new to it, in this process and in its workers.
    warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    local = (master or "local").startswith("local")
    if local:  # a cluster's executors have Pythons of their own
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    conf = SparkConf().setAll([
        ("spark.master", master or "local[*]"),
        ("spark.app.name", "creator-recommender score"),
        ("spark.ui.enabled", "false"),
        ("spark.ui.showConsoleProgress", "false"),
        ("spark.sql.session.timeZone", "UTC"),
        ("spark.sql.execution.arrow.maxRecordsPerBatch", "20000"),
        ("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={QUIET_LOG}"),
    ])  # fmt: skip
    if local:  # the driver is the executors: room to sort
        conf.set("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "2g"))
    session = SparkSession(_quiet_context(conf))
    session.sparkContext.setLogLevel("ERROR")
    return session


def _require_pyspark() -> None:
    """MissingExtra, naming the install that adds it, when PySpark is not installed."""
    try:
        for name in ("pyspark", "py4j"):
            importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in ("pyspark", "py4j"):
            raise  # PySpark is there and broken: a bug to show, not an extra to install
        raise MissingExtra(f"the Spark engine needs PySpark: {INSTALL} (and Java 17)") from None


def _quiet_context(conf: SparkConf) -> SparkContext:
    """A Spark context of `conf`; a JVM it starts writes its stderr (Java's warnings, Spark's
    log, its Python workers' output) to a file no name points to, read only to say why
    the JVM could not start."""
    from pyspark import SparkContext
    from pyspark.errors import PySparkException
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:  # this process started its JVM already
        return SparkContext.getOrCreate(conf)
    log = unnamed_file(tempfile.gettempdir())
    try:
        gateway = launch_gateway(conf, popen_kwargs={"stderr": log})  # type: ignore[no-untyped-call]
    except PySparkException as exc:
        said = os.pread(log, 1 << 16, 0).decode(errors="replace").splitlines()
        first = [line for line in said if line.strip() and not line.startswith("WARNING")]
        raise ScoringError(  # the first complaint: what follows it is the launcher's own
            f"Spark could not start: {first[0] if first else one_line(exc)}"
        ) from None
    finally:
        os.close(log)  # the JVM holds its own copy
    return SparkContext(conf=conf, gateway=gateway)


def score_on_spark(
    creators: str | os.PathLike[str],
    campaign: str | os.PathLike[str],
    out: str | os.PathLike[str],
    rejects: str | os.PathLike[str] | None = None,
    model: ModelRef = None,
    master: str | None = None,
    top: int | None = None,
    say: Callable[[str], None] = print,
    spark: SparkSession | None = None,
) -> SparkReport:
    """Score a creators file or folder on Spark; write the ranked rows to the Parquet folder
    `out` and the rejected rows, as given with their reason, to `rejects` (default
    `out` + ".rejects"); both carry the run's _summary.json. A folder's own part files are
    read, not those of folders inside it. Whole-input problems (no such path, an empty
    folder, a part that is not Parquet or lacks a required column, a model that cannot
    load) raise before Spark starts, and so do outputs that would replace or hold an input,
    lie inside one, or replace a file or folder that is not an earlier output of this
    engine (remote outputs: once Spark is up, before any work). A failed Spark job raises
    ScoringError in one line naming the part file it was reading and the cause. Without
    PySpark (a plain install), MissingExtra names the install, before anything is read."""
    _require_pyspark()
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    start = time.perf_counter()
    out = str(out)
    rejects = str(rejects) if rejects is not None else f"{out.rstrip('/')}.rejects"
    outputs = {"output": out, "rejects folder": rejects}
    inputs = {"creators file": str(creators), "campaign file": str(campaign)}
    _refuse_unsafe_outputs(outputs, {**inputs, "model": _model_path(model)})
    campaigns = valid_campaigns(campaign, say)
    parts = _local_parts(str(creators), campaigns)
    recommender, identity = loaded_model(model)
    say(f"scoring with {identity.text()}")
    try:
        spark = spark or spark_session(master)
        for role, target in outputs.items():
            _refuse_foreign(_Folders(spark, target), target, role)
        parts = parts or _own_parts(_Folders(spark, str(creators)), str(creators))
        with _replaced_folders(spark, {out: "out", rejects: "rejects"}) as temporary:
            counts = _score_into(spark, parts, campaigns, recommender, top, temporary)
            report = SparkReport(
                *counts, campaigns=len(campaigns), out=out, rejects=rejects, model=identity,
                seconds=time.perf_counter() - start,
            )  # fmt: skip
            summary = json.dumps(report.summary(), indent=2, allow_nan=False) + "\n"
            for role in ("out", "rejects"):  # (the two may be on different file systems)
                _Folders(spark, temporary[role]).write_text(f"{temporary[role]}/{SUMMARY}", summary)
    except (PySparkException, Py4JError) as exc:
        raise ScoringError(f"the Spark job failed: {_failure(exc)}") from None
    kept = "" if top is None else f" (kept the best {top} per campaign)"
    say(f"{report.rows_in:,} creator rows: {report.scored:,} scored rows{kept} for "
        f"{len(campaigns)} campaign(s) -> {out}; "
        f"{report.rejected:,} rejected -> {rejects}")  # fmt: skip
    return report


def _failure(exc: BaseException) -> str:
    """A failed Spark call in one line: the file Spark was reading, when it says, and why
    (what Spark says of it, else its cause), or the deepest cause (a Java exception's
    chain of causes; a Python worker's last line)."""
    messages: list[str] = []
    java = getattr(exc, "java_exception", None)  # a Py4JJavaError's; Spark's own errors: none
    while java is not None and len(messages) < 20:
        messages.append(str(java.getMessage() or java.toString()))
        java = java.getCause()
    text = str(exc).strip()
    if not messages and "Traceback (most recent call last)" in text:
        messages = [text.splitlines()[-1]]  # a Python worker's exception, as Python ends it
    lines = [_cause_alone(m) for m in messages or [text]]
    lines = [line for line in lines if line] or [type(exc).__name__]
    for at, line in enumerate(lines):
        reading = re.search(r"reading file (\S+?)\.(?:\s+(.*))?$", line)
        if reading:
            file, said = _shown(reading.group(1)), reading.group(2)
            cause = said or lines[min(at + 1, len(lines) - 1)]
            first, _, rest = cause.partition(" ")
            if _shown(first) == file:  # the cause names the file again, as Parquet's do
                cause = rest
            return f"{file}: {cause}"
    return lines[-1]


def _cause_alone(message: str) -> str:
    """The first line of a Spark message without its error class and SQLSTATE."""
    line = message.strip().splitlines()[0] if message.strip() else ""
    line = re.sub(r"^.*?\w+(?:\.\w+)*(?:Exception|Error): ", "", line)  # a wrapped job's cause
    line = re.sub(r"^\[[A-Z_.]+\]\s*", "", line)
    return re.sub(r"\s*SQLSTATE: \w+\.?$", "", line).strip()


def _shown(path: str) -> str:
    """A path as the user wrote it: a file: URI as a plain path."""
    return unquote(urlparse(path).path) if path.startswith("file:") else path


def first_rows(folder: str, rows: int, master: str | None = None) -> pd.DataFrame:
    """The best `rows` rows of a scored folder, read through Spark (whatever its storage)."""
    scored = spark_session(master).read.parquet(folder)
    return scored.orderBy("campaign_id", "rank").limit(rows).toPandas()


def _score_into(
    spark: SparkSession,
    parts: list[str],
    campaigns: pd.DataFrame,
    recommender: Any,
    top: int | None,
    temporary: dict[str, str],
) -> tuple[int, int, int]:
    """Score the part files `parts` into the folders of `temporary`; (rows in, scored,
    rejected)."""
    numbered, headers = _read(spark, parts)
    creators = parts[0]
    # Each row's id is fixed once, on disk: ids from a new read could differ (Spark
    # splits files by the cores it has) and the joins below would pair other rows.
    numbered.write.parquet(temporary["input"])
    raw = spark.read.parquet(temporary["input"])
    own = _own_columns(headers, creators, campaigns)
    stage_schema = _stage_schema(own)
    model_copy = spark.sparkContext.broadcast(recommender)
    names = {f"_c{i}": h for i, h in enumerate(headers)}

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        named = (batch.rename(columns=names) for batch in batches)
        yield from _scored_partition(named, campaigns, model_copy.value, stage_schema)

    keyed = raw.withColumn(KEY, _key_column(headers))
    staged = keyed.repartition(KEY).sortWithinPartitions(FILE, ROW)
    staged.mapInPandas(score_partition, schema=_ddl(stage_schema)).write.parquet(
        temporary["stage"]
    )  # computed once, read by both outputs
    done = spark.read.parquet(temporary["stage"])
    _rejects(done, raw, headers).write.parquet(temporary["rejects"])
    _ranked(done, raw, own, top).write.parquet(temporary["out"])
    scored = spark.read.parquet(temporary["out"]).count()
    return raw.count(), scored, spark.read.parquet(temporary["rejects"]).count()


def _model_path(model: ModelRef) -> str | None:
    """The file or folder `model` is read from when it is one (not an MLflow URI, nor in
    memory): the champion folder when none is named."""
    if model is not None and not isinstance(model, (str, os.PathLike)):
        return None
    ref = str(model or config.settings().model)
    return None if config.is_model_uri(ref) else ref


def _refuse_unsafe_outputs(outputs: dict[str, str], inputs: dict[str, str | None]) -> None:
    """One line, before Spark starts, for an output folder (role: path) that would replace,
    hold or lie inside an input (role: path) or the other output, and for one on this
    machine that is a file or a folder this engine did not write. Remote paths are
    compared as written (bucket and key), as no file system can be asked yet."""
    placed: list[tuple[str, str, tuple[str, str]]] = [
        (role, path, _place(path)) for role, path in inputs.items() if path is not None
    ]
    for role, path in outputs.items():
        here = _place(path)
        for other_role, other, there in placed:
            if here == there:
                raise DataFileError(f"{path}: the {role} would replace the {other_role}; "
                                    "choose another path")  # fmt: skip
            if _inside(there, here):
                raise DataFileError(f"{path}: the {role} would replace a folder holding the "
                                    f"{other_role} ({other}); choose another path")  # fmt: skip
            if _inside(here, there):
                raise DataFileError(f"{path}: the {role} would be written inside the "
                                    f"{other_role} ({other}); choose another path")  # fmt: skip
        if not _remote(path):
            _refuse_foreign(_LocalFolders(), _local(path), role)
        placed.append((role, path, here))


def _place(path: str) -> tuple[str, str]:
    """(file system, absolute path) that `path` names: scheme://host and the key's path
    for a remote one, "" and the real path (links followed) for one on this machine."""
    if _remote(path):
        parsed = urlparse(path)
        key = posixpath.normpath("/" + parsed.path.lstrip("/"))
        return f"{parsed.scheme.lower()}://{parsed.netloc}", key
    return "", os.path.realpath(_local(path))


def _inside(inner: tuple[str, str], outer: tuple[str, str]) -> bool:
    """Whether the place `inner` lies inside the folder `outer` (not equal to it)."""
    return inner[0] == outer[0] and inner[1].startswith(outer[1].rstrip("/") + "/")


def _local(path: str) -> str:
    """A path on this machine as a plain path (a file: URI's path)."""
    return urlparse(path).path if path.startswith("file:") else path


def _refuse_foreign(folders: _FileSystem, path: str, role: str) -> None:
    """One line when replacing `path` would destroy what this engine did not write: a
    file, or a folder neither empty nor marked by a _summary.json of a Spark run."""
    if not folders.exists(path):
        return
    if folders.is_file(path):
        raise DataFileError(f"{path}: is a file; the Spark engine writes a folder here")
    names = [name for name, _ in folders.entries(path)]
    if not names or _written_here(folders, path, names):
        return
    raise DataFileError(
        f"{path}: the {role} would replace this folder, which is not an earlier output of "
        f"the Spark engine (it has no {SUMMARY} of one); choose another path, or empty it"
    )


def _written_here(folders: _FileSystem, path: str, names: list[str]) -> bool:
    """Whether the folder `path` holding `names` is an earlier output of this engine."""
    if SUMMARY not in names:
        return False
    try:
        summary = json.loads(folders.read_text(f"{path.rstrip('/')}/{SUMMARY}"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("engine") == "spark"


def _local_parts(creators: str, campaigns: pd.DataFrame) -> list[str] | None:
    """The part files of a local input; one line, before Spark starts, for an input that
    is missing, empty, not Parquet or CSV, or a Parquet part that is unreadable or lacks a
    required column. None for a remote input (s3a://, dbfs:/...), which Spark lists."""
    if _remote(creators):
        return None
    parts = _own_parts(_LocalFolders(), _local(creators))
    formats = {file_format(part) for part in parts}
    if formats == {"csv"}:
        return parts
    if formats != {"parquet"}:
        raise DataFileError(f"{creators}: the Spark engine reads Parquet or CSV")
    import pyarrow.parquet as pq

    checked: set[str] = set()
    for part in parts:
        try:
            columns = pq.read_schema(part).remove_metadata()
        except Exception as exc:  # not Parquet, or a broken file: Spark would fail later
            raise DataFileError(f"{part}: cannot read as parquet: {one_line(exc)}") from None
        if str(columns) not in checked:  # as the local engine reads each part's own columns
            _own_columns(columns.names, part, campaigns)
            checked.add(str(columns))
    return parts


def _read(spark: SparkSession, parts: list[str]) -> tuple[DataFrame, list[str]]:
    """(the part files `parts` as given, CSV cells as text, their columns numbered _c0,
    _c1... with each row's file and an id that follows the file's order within it; the
    input's headers). Numbered, because Spark's column lookups split a name with a dot
    ("Avg. Likes")."""
    from pyspark.sql import functions as F

    frame = _read_csv(spark, parts) if _is_csv(parts[0]) else _read_parquet(spark, parts)
    headers = [c.lstrip("\ufeff") for c in frame.columns]
    numbered = frame.toDF(*[f"_c{i}" for i in range(len(headers))])
    with_ids = numbered.withColumn(FILE, F.input_file_name())
    return with_ids.withColumn(ROW, F.monotonically_increasing_id()), headers


def _read_csv(spark: SparkSession, parts: list[str]) -> DataFrame:
    """CSV parts, every cell as text; a part whose header differs from the first's fails
    (naming it) rather than having its cells taken for other columns."""
    first = parts[0]
    tab = Path(urlparse(first).path).suffix.lower() == ".tsv"
    encoding, sep = ("utf-8", "\t" if tab else ",") if _remote(first) else csv_dialect(first)
    reader = spark.read.options(
        header=True, sep=sep, encoding=_java_charset(encoding), escape='"',
        inferSchema=False, mode="PERMISSIVE", enforceSchema=False,
    )  # fmt: skip
    return reader.csv(parts)


def _read_parquet(spark: SparkSession, parts: list[str]) -> DataFrame:
    """Parquet parts as one frame, as the local engine reads them part by part: every
    part's columns (null where a part has none), each typed as its parts have it, or as
    text where parts disagree (int64 here, text or double there), as validation reads a
    number written as text. Spark's own merge refuses such parts: they are then read in
    groups of like columns (a schema read per part), and the groups joined by name."""
    from py4j.protocol import Py4JJavaError

    try:
        return spark.read.option("mergeSchema", True).parquet(*parts)
    except Py4JJavaError as exc:
        if "CANNOT_MERGE" not in str(exc):
            raise
    alike: dict[str, list[str]] = {}
    for part in parts:
        alike.setdefault(spark.read.parquet(part).schema.json(), []).append(part)
    return _union_by_name([spark.read.parquet(*same) for same in alike.values()])


def _union_by_name(frames: list[DataFrame]) -> DataFrame:
    """The rows of `frames` under every column any has, in the order first seen; a column
    the frames type differently is text in all (NaN as null, as pandas reads it)."""
    from functools import reduce

    from pyspark.sql import functions as F

    kinds: dict[str, set[str]] = {}
    for frame in frames:
        for field in frame.schema.fields:
            kinds.setdefault(field.name, set()).add(field.dataType.simpleString())
    mixed = {name for name, types in kinds.items() if len(types) > 1}

    def as_text(frame: DataFrame) -> DataFrame:
        columns = []
        for field in frame.schema.fields:
            column = _col(field.name)
            if field.name in mixed:
                nan = F.isnan(column) if field.dataType.typeName() in ("float", "double") else None
                text = column.cast("string")
                column = (text if nan is None else F.when(nan, None).otherwise(text)).alias(
                    field.name
                )
            columns.append(column)
        return frame.select(*columns)

    union = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), map(as_text, frames))
    return union.select(*[_col(name) for name in kinds])


def _col(name: str) -> Any:
    """Spark's column of exactly this name (backticks quoted, dots not a path)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _remote(path: str) -> bool:
    """Whether `path` names a file system other than this machine's (s3a://, dbfs:/, hdfs://)."""
    scheme = urlparse(path).scheme
    return len(scheme) > 1 and scheme != "file"  # one letter: a Windows drive


def _is_csv(part: str) -> bool:
    """Whether a part file is CSV (or TSV), by its name."""
    if _remote(part):
        return Path(urlparse(part).path).suffix.lower() in (".csv", ".tsv")
    return file_format(part) == "csv"


def _java_charset(encoding: str) -> str:
    return {"utf-8-sig": "UTF-8", "utf-16": "UTF-16"}.get(encoding, encoding.upper())


def _own_columns(
    headers: list[str], source: str | os.PathLike[str], campaigns: pd.DataFrame
) -> list[tuple[str, str, str]]:
    """(numbered input column, output column, Spark type or "" to keep the input's) of the
    input's own columns; DataFileError when a required column is missing."""
    try:
        candidate_pairs(pd.DataFrame({c: pd.Series([], dtype=str) for c in headers}), campaigns)
    except ScoringError as exc:
        raise DataFileError(f"{source}: {exc}") from None
    kinds = {c.name: c.kind for c in contract.CREATORS.columns}
    number = {h: f"_c{i}" for i, h in enumerate(headers)}
    return [(number[h], out, KIND_TYPES.get(kinds[out], "string") if out in kinds else "")
            for h, out in own_output_columns(headers)]  # fmt: skip


def _stage_schema(own: list[tuple[str, str, str]]) -> dict[str, str]:
    """What each partition gives back: a row's id, its reject reason (null when scored),
    the predictions and the contract's columns as validated."""
    return {ROW: "bigint", REJECT: "string", **PREDICTED,
            **{out: kind for _, out, kind in own if kind}}  # fmt: skip


def _ddl(columns: dict[str, str]) -> str:
    return ", ".join(f"`{name.replace('`', '``')}` {kind}" for name, kind in columns.items())


def _key_column(headers: list[str]) -> Any:
    """A column equal for rows the validation would call duplicates, so that copies of
    a key meet in one partition: a creator id as the account it names (contract.account,
    on the executors: '@Handle' and 'handle' are one), a campaign id with every
    character but letters and digits removed (validation strips blanks). Reads the
    numbered columns of `headers`."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.functions import pandas_udf

    def accounts(ids: pd.Series) -> pd.Series:
        return contract.account(ids).fillna("")

    # (PySpark's stubs type a Series-to-Series function's Series otherwise than pandas-stubs)
    as_account = pandas_udf(accounts, "string")  # type: ignore[call-overload]
    read_as = {name: f"_c{i}" for i, name in enumerate(read_names(headers))}
    key = ("campaign_id", "creator_id") if "campaign_id" in read_as else ("creator_id",)
    parts = [
        as_account(F.col(read_as[k]).cast("string")) if k in contract.ACCOUNT_COLUMNS
        else F.coalesce(F.regexp_replace(F.col(read_as[k]).cast("string"),
                                         r"[^\p{L}\p{N}]", ""), F.lit(""))
        for k in key
    ]  # fmt: skip
    return F.concat_ws("\u0001", *parts)


def _scored_partition(
    batches: Iterator[pd.DataFrame],
    campaigns: pd.DataFrame,
    recommender: Any,
    columns: dict[str, str],
) -> Iterator[pd.DataFrame]:
    """Validate and score one partition's batches, in file order, as the local engine
    scores a file's chunks: rows of `columns`."""
    from recommender import _trees

    _trees.use_threads(False)  # each task has one core
    seen = contract.KeySet()
    for batch in batches:
        pairs, rejects = candidate_pairs(batch, campaigns, seen)
        parts = []
        if len(rejects):
            parts.append(rejects[[ROW, contract.REJECT_REASON]].rename(
                columns={contract.REJECT_REASON: REJECT}))  # fmt: skip
        if len(pairs):
            scored = scored_rows(recommender, pairs)
            parts.append(scored[[c for c in columns if c != REJECT]])
        if parts:
            yield _as_spark_takes(pd.concat(parts, ignore_index=True), columns)


def _as_spark_takes(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """`frame` with `columns` typed as PySpark converts them: numbers as NumPy or nullable
    integers, text as Python objects (PySpark cannot take pandas 3's Arrow-backed text)."""
    typed: dict[str, pd.Series] = {}
    for name, kind in columns.items():
        values = frame[name] if name in frame.columns else pd.Series(None, index=frame.index)
        if kind == "bigint":
            typed[name] = values.astype("Int64")
        elif kind == "double":
            typed[name] = values.astype("float64")
        else:
            text = values.astype(object)
            typed[name] = text.where(values.notna(), None)
    return pd.DataFrame(typed, index=frame.index)


def _rejects(stage: DataFrame, raw: DataFrame, headers: list[str]) -> DataFrame:
    """The rejected rows as given, their reason first, in file order, under the names the
    local engine gives them (an input's own reject_reason gives way to the new one)."""
    from pyspark.sql import functions as F

    reasons = stage.where(F.col(REJECT).isNotNull()).select(ROW, REJECT)
    joined = reasons.join(raw, ROW).orderBy(FILE, ROW)
    given = [F.col(f"_c{i}").alias(name) for i, name in enumerate(read_names(headers))
             if name != contract.REJECT_REASON]  # fmt: skip
    return joined.select(F.col(REJECT).alias(contract.REJECT_REASON), *given)


def _ranked(
    stage: DataFrame, raw: DataFrame, own: list[tuple[str, str, str]], top: int | None
) -> DataFrame:
    """The scored rows ranked per campaign (as `scoring.rank` orders them), the input's
    other columns joined back as given, best first."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    scored = stage.where(F.col(REJECT).isNull()).drop(REJECT)
    extras = [(number, out) for number, out, kind in own if not kind]
    if extras:
        given = raw.select(ROW, *[F.col(number).alias(out) for number, out in extras])
        scored = scored.join(given, ROW)
    last = F.lit(float("-inf"))
    by_score = Window.partitionBy("campaign_id").orderBy(
        F.when(F.isnan("score") | F.col("score").isNull(), last).otherwise(F.col("score")).desc(),
        F.when(F.isnan("fit_score") | F.col("fit_score").isNull(), last)
        .otherwise(F.col("fit_score"))
        .desc(),
        F.col("creator_id").asc(),
    )
    ranked = scored.withColumn("rank", F.row_number().over(by_score).cast("bigint"))
    if top is not None:
        ranked = ranked.where(F.col("rank") <= top)
    columns = [*contract.SCORED_COLUMNS, *[out for _, out, _ in own]]
    return ranked.select(*[_col(c) for c in columns]).orderBy("campaign_id", "rank")


class _FileSystem(Protocol):
    """What the output and input checks ask of a file system."""

    def exists(self, path: str) -> bool: ...
    def is_file(self, path: str) -> bool: ...
    def entries(self, folder: str) -> list[tuple[str, bool]]: ...  # (name, is a file)
    def read_text(self, path: str) -> str: ...


class _LocalFolders:
    """This machine's file system, asked before Spark starts."""

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def is_file(self, path: str) -> bool:
        return not Path(path).is_dir()  # a link to a folder is the folder; anything else is not

    def entries(self, folder: str) -> list[tuple[str, bool]]:
        with os.scandir(folder) as found:
            return [(entry.name, not entry.is_dir()) for entry in found]

    def read_text(self, path: str) -> str:
        return Path(path).read_text()


class _Folders:
    """Hadoop's file system calls (local disks, HDFS, object stores alike)."""

    def __init__(self, spark: SparkSession, anchor: str) -> None:
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        self._jvm = jvm
        self._path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._path(anchor).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def is_file(self, path: str) -> bool:
        return bool(self._fs.isFile(self._path(path)))

    def entries(self, folder: str) -> list[tuple[str, bool]]:
        found = self._fs.listStatus(self._path(folder))
        return [(str(status.getPath().getName()), bool(status.isFile())) for status in found]

    def read_text(self, path: str) -> str:
        stream = self._fs.open(self._path(path))
        try:
            return str(self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
        finally:
            stream.close()

    def rename(self, source: str, target: str) -> None:
        if not self._fs.rename(self._path(source), self._path(target)):
            raise DataFileError(f"{target}: could not move the finished output here")

    def write_text(self, path: str, text: str) -> None:
        stream = self._fs.create(self._path(path), True)
        try:
            stream.write(bytearray(text.encode()))
        finally:
            stream.close()

    def delete(self, path: str) -> None:
        self._fs.delete(self._path(path), True)


def _own_parts(folders: _FileSystem, path: str) -> list[str]:
    """The files `path` names: itself, or its folder's own part files in name order (files in
    folders inside it are not parts: an earlier output kept there is not input)."""
    if not folders.exists(path):
        raise DataFileError(f"{path}: no such file or folder")
    if folders.is_file(path):
        return [path]
    entries = sorted((name, is_file) for name, is_file in folders.entries(path)
                     if is_part_name(name))  # fmt: skip
    inner = [name for name, is_file in entries if not is_file]
    if inner:  # as the local engine: rows left unread would vanish unsaid
        raise DataFileError(inner_folder_text(f"{path.rstrip('/')}/{inner[0]}", path))
    if not entries:
        raise DataFileError(f"{path}: an empty folder; expected Parquet part files in it")
    return [f"{path.rstrip('/')}/{name}" for name, _ in entries]


@contextmanager
def _replaced_folders(spark: SparkSession, targets: dict[str, str]) -> Iterator[dict[str, str]]:
    """Temporary folders to write into, by role (and "stage" and "input"), each in a hidden
    folder beside its target on the target's file system; the targets are replaced only
    once everything is written, together (`_swap_in`). A failure leaves the targets as
    they were; so does a kill, but during the renames themselves (on an object store,
    where a rename is a copy, while the folders are copied)."""
    token = secrets.token_hex(4)
    places = []
    for target, role in targets.items():
        parent, name = target.rstrip("/").rsplit("/", 1) if "/" in target else (".", target)
        places.append((role, _Folders(spark, target), target, f"{parent}/.{name}.tmp-{token}"))
    first_root = places[0][3]
    temporary = {role: f"{root}/{role}" for role, _, _, root in places}
    temporary.update(stage=f"{first_root}/stage", input=f"{first_root}/input")
    try:
        yield temporary
        _swap_in(places, temporary)
    finally:
        for _, folders, target, root in places:
            with suppress(Exception):
                # An earlier output that could not be put back stays where it was moved.
                if folders.exists(target) or not folders.exists(f"{root}/previous"):
                    folders.delete(root)


def _swap_in(places: list[tuple[str, _Folders, str, str]], temporary: dict[str, str]) -> None:
    """Move every earlier folder aside, then the finished ones in, the first target (the
    output) last: a run's output never stands beside an earlier run's rejects. On failure,
    undo what was done, last first."""
    done: list[tuple[_Folders, str, str]] = []  # renames made: (folders, from, to)
    try:
        for _, folders, target, root in places:
            if folders.exists(target):
                folders.rename(target, f"{root}/previous")
                done.append((folders, target, f"{root}/previous"))
        for role, folders, target, _ in reversed(places):
            folders.rename(temporary[role], target)
            done.append((folders, temporary[role], target))
    except BaseException:
        for folders, source, target in reversed(done):
            with suppress(Exception):
                folders.rename(target, source)
        raise
