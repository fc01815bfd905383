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

import json
import os
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pandas as pd

from recommender import schema
from recommender.batch import valid_campaigns
from recommender.errors import DataFileError, ScoringError
from recommender.io import csv_dialect, file_format, one_line, part_files
from recommender.model_store import ModelIdentity, loaded_model
from recommender.scoring import (
    ModelRef,
    candidate_pairs,
    own_output_columns,
    read_names,
    scored_rows,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MASTER_ENV = "SPARK_MASTER"
# Input columns travel as _c0, _c1...: these cannot be taken for one of them.
REJECT = "__reject_reason"
ROW = "__row_id"
FILE = "__file"
KEY = "__key"
PREDICTED = {  # scored_rows' columns as Spark types (rank comes later)
    c: "string" if c in ("campaign_id", "creator_id", "tier", *schema.EXPLANATION_COLUMNS)
    else "double"
    for c in schema.SCORED_COLUMNS if c != "rank"
}  # fmt: skip
QUIET_LOG = Path(__file__).with_name("spark-log4j2.properties")
KIND_TYPES = {schema.Kind.INT: "bigint", schema.Kind.FLOAT: "double"}  # other kinds: string


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
    interpreter, with no web UI."""
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
    builder = (
        SparkSession.builder.master(master or "local[*]")
        .appName("creator-recommender score")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={QUIET_LOG}")
    )
    if local:  # the driver is the executors: room to sort
        builder = builder.config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY",
                                                                       "2g"))  # fmt: skip
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


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
    `out` + ".rejects"). Whole-input problems (no such path, an empty folder, a required
    column missing, a model that cannot load, outputs that would replace an input) raise
    before Spark does any work; a failed Spark job raises ScoringError with its first line."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    start = time.perf_counter()
    out, rejects = str(out), str(rejects) if rejects is not None else f"{out}.rejects"
    _refuse_clashes({"creators file": str(creators), "output": out, "rejects folder": rejects})
    campaigns = valid_campaigns(campaign, say)
    _refuse_missing(creators, campaigns)
    recommender, identity = loaded_model(model)
    say(f"scoring with {identity.text()}")
    spark = spark or spark_session(master)
    try:
        with _replaced_folders(spark, {out: "out", rejects: "rejects"}) as temporary:
            counts = _score_into(spark, str(creators), campaigns, recommender, top, temporary)
            report = SparkReport(
                *counts, campaigns=len(campaigns), out=out, rejects=rejects, model=identity,
                seconds=time.perf_counter() - start,
            )  # fmt: skip
            summary = json.dumps(report.summary(), indent=2, allow_nan=False) + "\n"
            _Folders(spark, out).write_text(f"{temporary['out']}/_summary.json", summary)
    except (PySparkException, Py4JError) as exc:
        raise ScoringError(f"the Spark job failed: {one_line(exc)}") from None
    kept = "" if top is None else f" (kept the best {top} per campaign)"
    say(f"{report.rows_in:,} creator rows: {report.scored:,} scored rows{kept} for "
        f"{len(campaigns)} campaign(s) -> {out}; "
        f"{report.rejected:,} rejected -> {rejects}")  # fmt: skip
    return report


def first_rows(folder: str, rows: int, master: str | None = None) -> pd.DataFrame:
    """The best `rows` rows of a scored folder, read through Spark (whatever its storage)."""
    scored = spark_session(master).read.parquet(folder)
    return scored.orderBy("campaign_id", "rank").limit(rows).toPandas()


def _score_into(
    spark: SparkSession,
    creators: str,
    campaigns: pd.DataFrame,
    recommender: Any,
    top: int | None,
    temporary: dict[str, str],
) -> tuple[int, int, int]:
    """Score `creators` into the folders of `temporary`; (rows in, scored, rejected)."""
    numbered, headers = _read(spark, creators)
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


def _refuse_clashes(paths: dict[str, str]) -> None:
    """One line when two of the paths name the same place (an output replacing the input)."""
    seen: dict[str, str] = {}
    for role, path in paths.items():
        place = path if _remote(path) else os.path.realpath(path.removeprefix("file://"))
        place = place.rstrip("/")
        if place in seen:
            raise DataFileError(f"{path}: the {role} would replace the {seen[place]}; "
                                "choose another path")  # fmt: skip
        seen[place] = role


def _refuse_missing(creators: str | os.PathLike[str], campaigns: pd.DataFrame) -> None:
    """One line, before Spark starts, for a local input that is missing, empty or of a
    kind Spark reads not (remote paths, such as s3a://, are Spark's to check)."""
    if _remote(str(creators)):
        return
    path = Path(str(creators).removeprefix("file://"))
    if not path.exists():
        raise DataFileError(f"{creators}: no such file or folder")
    if file_format(path) not in ("csv", "parquet"):
        raise DataFileError(f"{creators}: the Spark engine reads Parquet or CSV")
    first = part_files(path)[0]  # refuses an empty folder
    if file_format(first) == "parquet":
        import pyarrow.parquet as pq

        try:
            header = pq.read_schema(first).names
        except Exception as exc:  # not Parquet, or a broken file: Spark would fail later
            raise DataFileError(f"{first}: cannot read as parquet: {one_line(exc)}") from None
        _own_columns(header, creators, campaigns)


def _read(spark: SparkSession, path: str) -> tuple[DataFrame, list[str]]:
    """(the input as given, CSV cells as text, its columns numbered _c0, _c1... with each
    row's file and an id that follows the file's order within it; the input's headers).
    Numbered, because Spark's column lookups split a name with a dot ("Avg. Likes")."""
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    try:
        if _is_csv(path):
            first = None if _remote(path) else part_files(path.removeprefix("file://"))[0]
            tab = Path(urlparse(path).path).suffix.lower() == ".tsv"
            encoding, sep = csv_dialect(first) if first else ("utf-8", "\t" if tab else ",")
            reader = spark.read.options(
                header=True, sep=sep, encoding=_java_charset(encoding), escape='"',
                inferSchema=False, mode="PERMISSIVE",
            )  # fmt: skip
            frame = reader.csv(path)
        else:
            frame = spark.read.parquet(path)
    except PySparkException as exc:
        raise DataFileError(f"{path}: cannot read: {one_line(exc)}") from None
    headers = [c.lstrip("\ufeff") for c in frame.columns]
    numbered = frame.toDF(*[f"_c{i}" for i in range(len(headers))])
    with_ids = numbered.withColumn(FILE, F.input_file_name())
    return with_ids.withColumn(ROW, F.monotonically_increasing_id()), headers


def _col(name: str) -> Any:
    """Spark's column of exactly this name (backticks quoted, dots not a path)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _remote(path: str) -> bool:
    """Whether `path` names a file system other than this machine's (s3a://, dbfs:/, hdfs://)."""
    scheme = urlparse(path).scheme
    return len(scheme) > 1 and scheme != "file"  # one letter: a Windows drive


def _is_csv(path: str) -> bool:
    if _remote(path):
        return Path(urlparse(path).path).suffix.lower() in (".csv", ".tsv")
    local = Path(path.removeprefix("file://"))
    if local.is_dir():
        return any(p.suffix.lower() in (".csv", ".tsv") for p in part_files(local))
    return file_format(local) == "csv"


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
    kinds = {c.name: c.kind for c in schema.CREATORS.columns}
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
    a key meet in one partition: a creator id as the account it names (schema.account,
    on the executors: '@Handle' and 'handle' are one), a campaign id with every
    character but letters and digits removed (validation strips blanks). Reads the
    numbered columns of `headers`."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.functions import pandas_udf

    def accounts(ids: pd.Series) -> pd.Series:
        return schema.account(ids).fillna("")

    # (PySpark's stubs type a Series-to-Series function's Series otherwise than pandas-stubs)
    as_account = pandas_udf(accounts, "string")  # type: ignore[call-overload]
    read_as = {name: f"_c{i}" for i, name in enumerate(read_names(headers))}
    key = ("campaign_id", "creator_id") if "campaign_id" in read_as else ("creator_id",)
    parts = [
        as_account(F.col(read_as[k]).cast("string")) if k in schema.ACCOUNT_COLUMNS
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
    from recommender import trees

    trees.use_threads(False)  # each task has one core
    seen = schema.KeySet()
    for batch in batches:
        pairs, rejects = candidate_pairs(batch, campaigns, seen)
        parts = []
        if len(rejects):
            parts.append(rejects[[ROW, schema.REJECT_REASON]].rename(
                columns={schema.REJECT_REASON: REJECT}))  # fmt: skip
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
             if name != schema.REJECT_REASON]  # fmt: skip
    return joined.select(F.col(REJECT).alias(schema.REJECT_REASON), *given)


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
    columns = [*schema.SCORED_COLUMNS, *[out for _, out, _ in own]]
    return ranked.select(*[_col(c) for c in columns]).orderBy("campaign_id", "rank")


class _Folders:
    """Hadoop's file system calls (local disks, HDFS, object stores alike)."""

    def __init__(self, spark: SparkSession, anchor: str) -> None:
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        self._path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._path(anchor).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def is_file(self, path: str) -> bool:
        return bool(self._fs.isFile(self._path(path)))

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


@contextmanager
def _replaced_folders(spark: SparkSession, targets: dict[str, str]) -> Iterator[dict[str, str]]:
    """Temporary folders to write into, by role (and "stage" and "input"), each in a hidden
    folder beside its target on the target's file system; the targets are replaced only
    once everything is written. A failure leaves the targets as they were (a rename that
    fails puts back those done); so does a kill, but on an object store, where a rename
    is a copy, during the renames themselves."""
    token = secrets.token_hex(4)
    places = []
    for target, role in targets.items():
        folders = _Folders(spark, target)
        if folders.is_file(target):
            raise DataFileError(f"{target}: is a file; the Spark engine writes a folder here")
        parent, name = target.rstrip("/").rsplit("/", 1) if "/" in target else (".", target)
        places.append((role, folders, target, f"{parent}/.{name}.tmp-{token}"))
    first_root = places[0][3]
    temporary = {role: f"{root}/{role}" for role, _, _, root in places}
    temporary.update(stage=f"{first_root}/stage", input=f"{first_root}/input")
    try:
        yield temporary
        _swap_in(places, temporary)
    finally:
        for _, folders, _, root in places:
            with suppress(Exception):
                folders.delete(root)


def _swap_in(places: list[tuple[str, _Folders, str, str]], temporary: dict[str, str]) -> None:
    """Move each finished folder onto its target, the earlier one aside; undo on failure."""
    done: list[tuple[_Folders, str, str, bool, bool]] = []
    try:
        for role, folders, target, root in places:
            existed = folders.exists(target)
            if existed:
                folders.rename(target, f"{root}/previous")
            done.append((folders, target, f"{root}/previous", existed, False))
            folders.rename(temporary[role], target)
            done[-1] = (folders, target, f"{root}/previous", existed, True)
    except BaseException:
        for folders, target, previous, existed, placed in reversed(done):
            with suppress(Exception):
                if placed:
                    folders.delete(target)
                if existed:
                    folders.rename(previous, target)
        raise
