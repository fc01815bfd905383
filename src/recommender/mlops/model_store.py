"""Trained models on disk: the one place that names the model file and loads it.

A model is an MLflow model directory (what train exports; it holds
`artifacts/recommender.joblib`), that joblib file itself, or an MLflow model
URI (`models:/creator-recommender@champion`, `runs:/...`). Every load checks
the model's format, so a model saved by an older version of the package is
refused with a one-line "retrain" message.

A model file is a joblib pickle: loading one runs code from it. Load only
model files you or your team made, as you would run only scripts you trust.

After the pickle, save_model writes a footer holding the SHA-256 of every byte
before it, and read_model_file checks it before unpickling: LightGBM aborts
the whole process on a damaged tree instead of raising, so a damaged file has
to be caught before any of it is unpickled. A file without the footer (saved
before it existed) is unpickled unchecked. Whatever is wrong with a model, the
error is one line naming it (ModelNotFound), never a traceback or a crash.

replace_folder puts a newly exported model folder in place of the old one so
that a crash at any moment leaves a whole model there: on Linux by swapping
the two in one step; elsewhere by two renames, keeping the previous folder
beside the target until the new one is in, from where the next export or
load_model puts it back if the target went missing in between. The folder a
new model is built in beside the target names the process building it, and
the next run staging there removes those whose process is gone (a kill -9).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import joblib

from recommender import _libc, config
from recommender.errors import DataFileError, ModelNotFound, ModelUnreachable, one_line

if TYPE_CHECKING:  # imported where a model is read: ModelIdentity needs none of its libraries
    from recommender.modeling.estimator import Recommender

# A model as callers name it: fitted already, a model directory or file, an MLflow URI, or
# None for the configured default (the champion).
ModelRef: TypeAlias = "str | os.PathLike[str] | Recommender | None"

MODEL_FILE = "recommender.joblib"
LINEAGE_FILE = "lineage.json"  # which registered version and run an exported folder holds
# What an exported model folder holds (MLflow's files and ours): anything else is the user's.
MODEL_FOLDER_ENTRIES = frozenset({
    "MLmodel", "artifacts", "code", "conda.yaml", "python_env.yaml", "requirements.txt",
    "input_example.json", "serving_input_example.json", "pyfunc_model.py", "metadata",
    "registered_model_meta", MODEL_FILE, LINEAGE_FILE,
})  # fmt: skip
# The unpickler stops at the pickle's end, so plain joblib.load still reads a file with it.
CHECKSUM_TAG = b"\n#creator-recommender sha256="
FOOTER_BYTES = len(CHECKSUM_TAG) + 64 + 1  # the tag, a hex SHA-256 and a newline
# How long a model loaded by alias (models:/name@champion) is served before the alias is
# looked up again: a long-running service follows a promotion within this time.
ALIAS_SECONDS = 30.0
NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")  # MLflow: no such alias
TRANSIENT = ("TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED")


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made an output: where it was loaded from, its registered version and
    training run (None where unknown), its format, and when it was trained."""

    source: str
    version: str | None
    run_id: str | None
    model_format: int | None
    trained_at: str | None

    def as_dict(self) -> dict[str, Any]:
        """The identity as JSON-ready fields."""
        return asdict(self)

    def text(self) -> str:
        """One line for people: 'version 3 (run 1a2b..., format 5, trained ...) from SOURCE'."""
        version = f"version {self.version}" if self.version else "an unregistered model"
        details = [f"run {self.run_id}" if self.run_id else "",
                   f"format {self.model_format}",
                   f"trained {self.trained_at}" if self.trained_at else ""]  # fmt: skip
        return f"{version} ({', '.join(d for d in details if d)}) from {self.source}"


@dataclass(frozen=True)
class _Loaded:
    recommender: Recommender
    identity: ModelIdentity
    until: float = float("inf")  # time.monotonic() after which an alias is looked up again
    stamp: str = ""  # a model file's inode and mtime: another means a new file there


_cache: dict[str, _Loaded] = {}


def model_file(model_dir: str | os.PathLike[str]) -> Path:
    """Where an exported model directory keeps the trained Recommender."""
    return Path(model_dir) / "artifacts" / MODEL_FILE


def save_model(recommender: Recommender, path: str | os.PathLike[str]) -> None:
    """Write a trained Recommender to a model file, followed by its checksum footer."""
    buffer = io.BytesIO()
    joblib.dump(recommender, buffer)
    pickled = buffer.getvalue()
    Path(path).write_bytes(pickled + _footer(pickled))


def _footer(pickled: bytes) -> bytes:
    return CHECKSUM_TAG + hashlib.sha256(pickled).hexdigest().encode() + b"\n"


def read_model_file(path: str | os.PathLike[str]) -> Recommender:
    """The Recommender in a model file, checked to be one this package version can use.

    Raises ModelNotFound with one line naming the file when it cannot be read,
    fails its checksum, does not unpickle, or holds something else.
    """
    older = f"{path}: trained by an older version of this package; retrain it"
    unreadable = f"{path}: not a readable model file"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelNotFound(f"{unreadable} ({exc.strerror or one_line(exc)})") from None
    # The footer's tag anywhere near the end: a byte cut or added there is damage too.
    tag = data.rfind(CHECKSUM_TAG, max(len(data) - 2 * FOOTER_BYTES, 0))
    pickled = data[:tag] if tag >= 0 else data  # no tag: saved before footers existed
    if tag >= 0 and data[tag:] != _footer(pickled):
        raise ModelNotFound(f"{unreadable} (damaged: its checksum does not match)")
    try:
        loaded = joblib.load(io.BytesIO(pickled))
    except (ModuleNotFoundError, AttributeError):  # classes since renamed or removed
        raise ModelNotFound(older) from None
    except Exception as exc:  # truncated or corrupted: the unpickler raises any kind
        raise ModelNotFound(f"{unreadable} ({one_line(exc)})") from None
    from recommender.modeling.estimator import MODEL_FORMAT, Recommender

    if not isinstance(loaded, Recommender):
        raise ModelNotFound(f"{path}: not a creator-recommender model")
    if getattr(loaded, "model_format_", None) != MODEL_FORMAT:
        raise ModelNotFound(older)
    return loaded


def load_model(model: ModelRef = None) -> Recommender:
    """A trained Recommender: given, or from a model directory, a model file or an MLflow URI.

    None takes the configured default, the champion (config.settings().model:
    $CREATOR_RECOMMENDER_MODEL, else the registry's @champion when
    MLFLOW_TRACKING_URI is set, else models/champion in the working directory).
    Loaded models are cached: a file until it changes, a model by alias for
    ALIAS_SECONDS. Raises ModelNotFound with a one-line message.
    """
    return loaded_model(model)[0]


def model_identity(model: str | os.PathLike[str] | Recommender | None = None) -> ModelIdentity:
    """Which model `model` (as load_model takes it) is: its lineage, for every output."""
    return loaded_model(model)[1]


def loaded_model(
    model: ModelRef = None,
) -> tuple[Recommender, ModelIdentity]:
    """load_model and model_identity from one load, so an output names the very model that
    made it even when a promotion lands in between."""
    if model is not None and not isinstance(model, (str, os.PathLike)):
        from recommender.modeling.estimator import Recommender

        if isinstance(model, Recommender):
            return model, _identity_of(model, "(in memory)", None, None)
    loaded = _load(model)
    return loaded.recommender, loaded.identity


def _load(model: str | os.PathLike[str] | None) -> _Loaded:
    ref = str(model or config.settings().model)
    if config.is_model_uri(ref):
        key = f"{config.settings().tracking_uri} {ref}"  # one URI, another store: another model
        cached = _cache.get(key)
        if cached is None or time.monotonic() > cached.until:
            _cache[key] = _load_from_mlflow(ref, cached, default=not model)
        return _cache[key]
    path = Path(ref)
    file, status = local_model_file(model)
    key, stamp = str(file.resolve()), f"{status.st_ino}:{status.st_mtime_ns}"
    cached = _cache.get(key)
    if cached is None or cached.stamp != stamp:  # one entry a path: a promotion replaces it
        recommender = read_model_file(file)
        identity = _identity_of(recommender, ref, *_lineage(path))
        _cache[key] = _Loaded(recommender, identity, stamp=stamp)
    return _cache[key]


def local_model_file(model: str | os.PathLike[str] | None) -> tuple[Path, os.stat_result]:
    """The file holding the model a folder or file names (None: the local champion), and
    its status, without reading it; ModelNotFound, in one line, when it is not there."""
    path = Path(str(model or config.settings().model))
    file = path if path.suffix == ".joblib" else model_file(path)
    if not file.is_file() and file != path:
        restore_replaced(path)  # an export may have died between its two renames
    try:
        return file, file.stat()
    except OSError:
        raise ModelNotFound(_missing(path, file, default=not model)) from None


NO_CHAMPION_HINT = (
    "`creator-recommender train` promotes a model that wins the gate; "
    "`creator-recommender champion --set VERSION` makes a registered one champion; "
    "or pass --model"
)


def _missing(path: Path, file: Path, default: bool) -> str:
    hint = "train one with `creator-recommender train`"
    if (path / "MLmodel").is_file():  # an export that lost its model file
        missing = file.relative_to(path)
        return f"{path}: not a readable model: {missing} is missing ({hint})"
    if default:
        return f"{path}: no champion yet ({NO_CHAMPION_HINT})"
    return f"{path}: no trained model here ({hint})"


def _identity_of(
    recommender: Recommender, source: str, version: str | None, run_id: str | None
) -> ModelIdentity:
    return ModelIdentity(
        source=source,
        version=version,
        run_id=run_id,
        model_format=getattr(recommender, "model_format_", None),
        trained_at=getattr(recommender, "trained_at_", None),
    )


def write_lineage(
    model_dir: str | os.PathLike[str], version: str | None, run_id: str | None
) -> None:
    """Record in an exported model folder which registered version and run it holds."""
    text = json.dumps({"version": version, "run_id": run_id}, indent=2)
    Path(model_dir, LINEAGE_FILE).write_text(text + "\n")


def _lineage(path: Path) -> tuple[str | None, str | None]:
    """(version, run id) recorded in a model folder; (None, None) where nothing is."""
    try:
        recorded = json.loads((path / LINEAGE_FILE).read_text())
        return recorded.get("version"), recorded.get("run_id")
    except (OSError, ValueError, AttributeError):  # no file (an older export), or not ours
        return None, None


def _load_from_mlflow(uri: str, cached: _Loaded | None, default: bool) -> _Loaded:
    """The MLflow model at `uri`, from the configured tracking store. A model named by alias
    is looked up again after ALIAS_SECONDS, and downloaded again only if the alias moved;
    while the store cannot be reached, the model already loaded goes on serving."""
    import mlflow
    from mlflow.exceptions import MlflowException

    store = connect_mlflow()
    try:
        version, run_id = _registered(uri)
        if cached is not None and (cached.identity.version, cached.identity.run_id) == (
            version, run_id):  # fmt: skip
            return replace(cached, until=_alias_until(uri))
        with tempfile.TemporaryDirectory(prefix="creator-recommender-") as download:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=_pinned(uri, version), dst_path=download
            )
            recommender = _read_downloaded(Path(local), uri, version)
    except (MlflowException, OSError) as exc:  # OSError: files, and a server out of reach
        if cached is not None:
            return replace(cached, until=_alias_until(uri))
        raise _fetch_failure(exc, uri, store, default) from None
    return _Loaded(recommender, _identity_of(recommender, uri, version, run_id), _alias_until(uri))


def _read_downloaded(local: Path, uri: str, version: str | None) -> Recommender:
    """The Recommender in a downloaded model, named by the URI asked for (not the
    download's temporary folder) when something is wrong with it."""
    file = model_file(local)
    named = f"{uri} (version {version})" if version and "@" in uri else uri
    if not file.is_file():
        raise ModelNotFound(f"{named}: its model files are gone from the tracking store")
    try:
        return read_model_file(file)
    except ModelNotFound as exc:
        raise ModelNotFound(str(exc).replace(str(file), named, 1)) from None


def _fetch_failure(exc: Exception, uri: str, store: str, default: bool) -> ModelNotFound:
    """Why a model could not be fetched from the store, in one line."""
    code = getattr(exc, "error_code", "")
    if "@" in uri and code in NOT_FOUND:
        hint = NO_CHAMPION_HINT if default else "no version has that alias"
        return ModelNotFound(f"{uri}: no champion yet in {store} ({hint})")
    if code in NOT_FOUND:
        return ModelNotFound(f"{uri}: {store} has no such registered model or version")
    if isinstance(exc, OSError) or code in TRANSIENT:
        reason = config.unreachable_reason(one_line(exc))
        return ModelUnreachable(f"{uri}: the tracking store {store} cannot be reached: {reason}")
    if "No such artifact" in str(exc):
        return ModelNotFound(f"{uri}: its model files are gone from the tracking store")
    return ModelNotFound(f"{uri}: cannot load the model: {one_line(exc)}")


def connect_mlflow() -> str:
    """Point MLflow at the configured tracking store; returns its URI."""
    import mlflow

    config.mlflow_client_defaults()
    uri = config.settings().tracking_uri
    mlflow.set_tracking_uri(uri)
    return uri


def _alias_until(uri: str) -> float:
    return time.monotonic() + ALIAS_SECONDS if "@" in uri else float("inf")


def _pinned(uri: str, version: str | None) -> str:
    """models:/name@alias as models:/name/VERSION, so the download is the version looked up."""
    if version is None or "@" not in uri:
        return uri
    return f"{uri.split('@', 1)[0]}/{version}"


def _registered(uri: str) -> tuple[str | None, str | None]:
    """(registered version, run id) of a models:/ or runs:/ URI; None where it has none."""
    from mlflow import MlflowClient

    if uri.startswith("runs:/"):
        return None, uri.removeprefix("runs:/").split("/", 1)[0]
    if not uri.startswith("models:/"):
        return None, None
    name, _, rest = uri.removeprefix("models:/").partition("/")
    client = MlflowClient()
    if "@" in name:
        name, alias = name.split("@", 1)
        found = client.get_model_version_by_alias(name, alias)
    elif rest.isdigit():
        found = client.get_model_version(name, rest)
    else:  # models:/m-<id>: a logged model, not a registered version
        return None, None
    return str(found.version), found.run_id


def check_model_dir(
    model_dir: str | os.PathLike[str], keep: str | os.PathLike[str] | None = None
) -> None:
    """Refuse, before any training, a model folder whose replacement would destroy something:
    a file, a folder holding anything but an earlier model, or one holding `keep` (the
    training data). DataFileError in one line."""
    folder = Path(os.path.realpath(model_dir))
    hint = "name a new folder, or one an earlier train exported"
    if folder == folder.parent or not Path(model_dir).name.strip(". "):
        raise DataFileError(f"{model_dir}: not a folder a model can replace; {hint}")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise DataFileError(f"{model_dir}: {existing} is a file, not a folder; {hint}")
    if keep is not None:
        kept = Path(os.path.realpath(keep))
        if kept == folder or folder in kept.parents:
            raise DataFileError(f"{model_dir}: holds the training data {keep}; {hint}")
    if folder.is_dir():
        others = sorted(p.name for p in folder.iterdir() if p.name not in MODEL_FOLDER_ENTRIES)
        if others or (any(folder.iterdir()) and not (folder / "MLmodel").is_file()):
            shown = f" ({', '.join(others[:3])})" if others else ""
            raise DataFileError(f"{model_dir}: holds files that are not a model{shown}; {hint}")


def previous_copy(target: Path) -> Path:
    """Where replace_folder keeps the folder it replaces until the new one is in place."""
    return target.with_name(f".{target.name}.old")


@cache
def this_machine() -> str:
    """This machine and process namespace: a pid means one process only within it."""
    with suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
        return f"{socket.gethostname()}/{boot}/{os.stat('/proc/self/ns/pid').st_ino}"
    return socket.gethostname()


def this_process() -> str:
    """This process, as process_gone reads it: 'MACHINE pid N'."""
    return f"{this_machine()} pid {os.getpid()}"


def process_gone(owner: str) -> bool:
    """Whether the process `owner` names ('MACHINE pid N', anything after) is known to have
    ended: only one of this machine can be, so another machine's is never taken for gone."""
    machine, _, rest = owner.partition(" pid ")
    pid = rest.split(" ", 1)[0]
    if machine != this_machine() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        pass
    return False


def _staging_prefix(target: Path) -> str:
    """The start of every staging folder's name beside `target`: its machine (hashed, for a
    file name) comes before the owning pid, so a run can tell the ones it may judge."""
    machine = hashlib.sha256(this_machine().encode()).hexdigest()[:8]
    return f".{target.name}.staging-{machine}-"


def remove_stale_staging(target: Path) -> list[Path]:
    """Remove the staging folders beside `target` that a process of this machine left when
    it was killed (its pid gone); a live run's, or another machine's, stay. Returns them."""
    prefix = _staging_prefix(target)
    removed = []
    with suppress(OSError):  # no folder yet, or one this run cannot list: nothing to judge
        for entry in target.parent.iterdir():
            if not entry.name.startswith(prefix) or not entry.is_dir():
                continue
            pid = entry.name[len(prefix) :].split("-", 1)[0]
            if process_gone(f"{this_machine()} pid {pid}"):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


@contextmanager
def staging_beside(target: Path) -> Iterator[Path]:
    """A new empty folder beside `target` (same filesystem, so replace_folder can swap a
    folder built in it in one step), removed on leaving with whatever is left in it. Its
    name holds this process's id, so that where a kill -9 leaves it, the next staging beside
    `target` removes it (remove_stale_staging)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target)
    prefix = f"{_staging_prefix(target)}{os.getpid()}-"
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_folder(new: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move the complete folder `new` to `target`, replacing any folder there.

    A crash at any moment leaves a whole folder at `target`, or (where the
    swap cannot be one step) the previous one at previous_copy(target), which
    restore_replaced puts back. `new` must be on the same filesystem.
    """
    new, target = Path(new), Path(target)
    backup = previous_copy(target)
    restore_replaced(target)
    if target.exists():
        shutil.rmtree(backup, ignore_errors=True)  # stale: a run died after both renames
        if _libc.exchange(new, target):
            shutil.rmtree(new, ignore_errors=True)  # it holds the previous folder now
            return
        target.rename(backup)
    new.rename(target)
    shutil.rmtree(backup, ignore_errors=True)


def restore_replaced(target: str | os.PathLike[str]) -> bool:
    """Put the previous folder back at `target` if replace_folder died between its renames.

    True when it did. Quietly does nothing when another process got there first
    or the folder cannot be written: the caller then finds what is there.
    """
    target = Path(target)
    backup = previous_copy(target)
    if target.exists() or not backup.is_dir():
        return False
    try:
        backup.rename(target)
    except OSError:
        return False
    return True
