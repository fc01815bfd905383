"""The champion: the registered version scoring serves, the gate that moves it, its lock and
its history.

    champion_gate(version, evidence, judge) train's gate: move the champion if it credibly wins
    set_champion("3")                       by hand: a rollback, or forward again
    champion_status()                       the champion, what is served, every promotion

Reading, judging and moving the champion happen under promotion_lock, so retrains
that finish together against one tracking server are judged one after another and
the best ends champion. Each promotion is a numbered tag on the registered model.
Without a tracking server (config.Settings.tracking_configured), a promotion also
puts the version in the local champion folder, which is what scoring serves there:
the folder is staged before the alias moves and swapped in after, and a folder left
behind by a run that died is repaired by the next gate or `champion --set`, which
also remove the staging folders of a run killed there.

MLflow errors leave this module as SettingError in one line (store_errors).
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from recommender import config
from recommender.errors import ModelNotFound, ModelUnreachable, SettingError, one_line
from recommender.mlops.model_store import (
    NOT_FOUND,
    connect_mlflow,
    load_model,
    model_file,
    model_identity,
    process_gone,
    remove_stale_staging,
    replace_folder,
    staging_beside,
    this_process,
    write_lineage,
)
from recommender.modeling import evidence
from recommender.modeling.training import TrainResult, rival_evidence

MODEL_NAME = config.MODEL_NAME
CHAMPION = config.CHAMPION_ALIAS
# The promotion lock: a registered model that exists only while a run moves the champion.
LOCK_MODEL = f"{MODEL_NAME}.promotion-lock"
LOCK_NOTE = "held while a run moves the creator-recommender champion; deleted after"
LOCK_STALE_SECONDS = 900.0  # far longer than judging a champion takes
LOCK_WAIT_SECONDS = 1200.0  # longer than a dead holder's lock lasts
HISTORY_TAG = "champion.history."  # registered-model tags, one per promotion, numbered

P = ParamSpec("P")
R = TypeVar("R")


def store_errors(function: Callable[P, R]) -> Callable[P, R]:
    """MLflow errors (a server that fails mid-way, a refused request) as one-line
    SettingErrors naming the store."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from mlflow.exceptions import MlflowException

        try:
            return function(*args, **kwargs)
        except MlflowException as exc:
            store = config.settings().tracking_uri
            raise SettingError(f"the tracking store {store}: {one_line(exc)}") from None

    return wrapper


def version_uri(version: str) -> str:
    """The MLflow URI of one registered version."""
    return f"models:/{MODEL_NAME}/{version}"


def check_store() -> str:
    """The tracking store's URI, once it answers; SettingError in one line when it cannot be
    reached, so that nothing is trained for a run that could not be logged."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = connect_mlflow()
    try:
        MlflowClient().search_experiments(max_results=1)
    except (MlflowException, OSError) as exc:
        reason = config.unreachable_reason(one_line(exc))
        raise SettingError(f"the tracking store {uri} cannot be reached: {reason}") from None
    return uri


def champion_version(client: Any) -> str | None:
    """The registry's champion version, or None when there is none yet."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code in NOT_FOUND:
            return None
        raise


# --- the lock -----------------------------------------------------------------------


@contextmanager
def promotion_lock(client: Any, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the registry's promotion lock while reading, judging and moving the champion.

    MLflow has no compare-and-set for aliases, but creating a registered model
    succeeds for exactly one caller (the store's unique name): the lock is the
    registered model LOCK_MODEL, deleted on leaving. A lock whose holder died is
    taken over: at once when the holder was on this machine, else once this
    waiter has seen the same holder for LOCK_STALE_SECONDS (by its own clock, so
    clocks that disagree do not matter). SettingError after `wait_seconds`.
    """
    me = f"{this_process()} {uuid.uuid4().hex[:8]}"
    deadline, first_seen = time.monotonic() + wait_seconds, dict[str, float]()
    while not _try_lock(client, me):
        holder = _lock_holder(client)
        if holder is not None:
            seen = time.monotonic() - first_seen.setdefault(holder, time.monotonic())
            if process_gone(holder) or seen > LOCK_STALE_SECONDS:
                _take_over(client, holder)
                continue
        if time.monotonic() > deadline:
            raise SettingError(
                f"the champion has been locked by {holder or 'another run'} for over "
                f"{wait_seconds:.0f} s; if that run died, delete the registered model {LOCK_MODEL}"
            )
        time.sleep(random.uniform(0.05, 0.3))
    try:
        yield
    finally:
        if _lock_holder(client) == me:
            with suppress(Exception):  # gone already: taken over as stale
                client.delete_registered_model(LOCK_MODEL)


def _try_lock(client: Any, me: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(LOCK_MODEL, tags={"holder": me}, description=LOCK_NOTE)
        return True
    except MlflowException as exc:
        # The server answers a name taken by a lock deleted a moment later with "does not
        # exist" (it looks the holder up after the insert fails): busy all the same.
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
            raise
        return False


def _lock_holder(client: Any) -> str | None:
    """Who holds the lock, or None when nobody does."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_registered_model(LOCK_MODEL).tags.get("holder", ""))
    except MlflowException:
        return None


def _take_over(client: Any, holder: str) -> None:
    """Delete a dead holder's lock. Only the waiter that creates the holder's takeover
    ticket may: two waiters deleting "the stale lock" could delete a live one between them."""
    from mlflow.exceptions import MlflowException

    ticket = f"{LOCK_MODEL}.takeover-{uuid.uuid5(uuid.NAMESPACE_OID, holder).hex[:12]}"
    try:
        client.create_registered_model(ticket, description=f"taking over from {holder}")
    except MlflowException:
        return  # another waiter is taking it over
    try:
        if _lock_holder(client) == holder:  # no one else deletes it: the ticket is ours
            client.delete_registered_model(LOCK_MODEL)
    finally:
        with suppress(MlflowException):
            client.delete_registered_model(ticket)


# --- the gate and promotions --------------------------------------------------------


@store_errors
def champion_gate(
    version: str,
    challenger: evidence.Evidence,
    judge_champion: Callable[[str], evidence.Evidence],
) -> evidence.Decision:
    """Move the champion to `version` only if the history credibly says it is better
    (evidence.decide): ahead of the champion and of the best baseline, the interval on the
    paired improvement over the campaigns above zero.

    `challenger` is the new version's evidence; `judge_champion(champion_version)` gives
    the champion's over the same history and folds (registered_evidence). Returns the
    decision, whose line says what happened and why; its record goes in the promotion
    history."""
    from mlflow import MlflowClient

    client = MlflowClient()
    with promotion_lock(client):
        current = champion_version(client)
        if current is None:
            decision = evidence.decide(challenger, None, (version, None))
            _promote(client, version, "gate", None, decision.record)
            return decision
        try:
            judged = judge_champion(current)
        except ModelUnreachable as exc:  # the champion may be fine: judge nothing unseen
            raise SettingError(f"the champion could not be judged: {exc}") from None
        except ModelNotFound as exc:  # an old champion no longer loads with today's code
            decision = evidence.decide(challenger, None, (version, None))
            _promote(client, version, "gate", current, decision.record)
            line = (f"champion version {current} could not be evaluated ({one_line(exc)}); "
                    f"version {version} is champion now")  # fmt: skip
            return evidence.Decision(True, line, decision.record)
        decision = evidence.decide(challenger, judged, (version, current))
        if decision.promote:
            _promote(client, version, "gate", current, decision.record)
        else:
            _repair_champion_folder(client, current)
    return decision


def registered_evidence(result: TrainResult) -> Callable[[str], evidence.Evidence]:
    """A function giving a registered version's evidence on the history `result` was judged
    on (ModelNotFound when the version cannot be loaded)."""

    def judged(version: str) -> evidence.Evidence:
        return rival_evidence(result, load_model(version_uri(version)))

    return judged


@store_errors
def set_champion(version: str) -> str | None:
    """Make `version` the champion by hand (a rollback, or forward again), recorded as such;
    returns the previous champion. SettingError when the registry has no such version;
    ModelNotFound when it cannot serve (its files gone, an older format)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = check_store()
    client = MlflowClient()
    try:
        client.get_model_version(MODEL_NAME, version)
    except MlflowException as exc:
        if exc.error_code not in NOT_FOUND:
            raise
        raise SettingError(f"{MODEL_NAME} has no version {version!r} in {uri}") from None
    load_model(version_uri(version))  # refuses, in one line, what cannot serve
    with promotion_lock(client):
        current = champion_version(client)
        if current != version:
            _promote(client, version, "hand", current, None)
        else:
            _sync_champion_folder(client, current)
    return current


def _promote(
    client: Any,
    version: str,
    by: str,
    previous: str | None,
    judged: dict[str, object] | None,
) -> None:
    """Stage the local champion folder (without a tracking server), move the alias, record
    the promotion, then swap the folder in. Under promotion_lock only."""
    with _staged_champion_folder(client, version) as swap_in:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        run_id = client.get_model_version(MODEL_NAME, version).run_id
        data = client.get_run(run_id).data.tags.get("data_fingerprint") if run_id else None
        event = {
            "version": version,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "by": by,
            "previous": previous,
            "evidence": judged,
            "data_fingerprint": data,
            "run_id": run_id,
        }
        number = max((e["number"] for e in promotion_history(client)), default=0) + 1
        client.set_registered_model_tag(MODEL_NAME, f"{HISTORY_TAG}{number:05d}", json.dumps(event))
        swap_in()


def promotion_history(client: Any) -> list[dict[str, Any]]:
    """Every promotion recorded in the registry, oldest first, each numbered (a tag that is
    not one of ours is skipped)."""
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(MODEL_NAME).tags
    except MlflowException:
        return []
    history = []
    for key, value in sorted(tags.items()):
        number = key.removeprefix(HISTORY_TAG)
        with suppress(ValueError, TypeError):
            event = json.loads(value)
            if key.startswith(HISTORY_TAG) and number.isdigit() and isinstance(event, dict):
                history.append({**event, "number": int(number)})
    return history


# --- the local champion folder ------------------------------------------------------


@contextmanager
def _staged_champion_folder(client: Any, version: str) -> Iterator[Callable[[], None]]:
    """Without a tracking server: fetch `version` into a folder beside the champion folder
    and check it can serve; yields the function that swaps it in. A no-op elsewhere, or
    when the folder holds that version already."""
    import mlflow

    settings = config.settings()
    folder = Path(os.path.realpath(settings.champion_dir))
    if not settings.tracking_configured:
        remove_stale_staging(folder)  # a killed run's, even when nothing is staged now
    if settings.tracking_configured or champion_folder_version(folder) == version:
        yield lambda: None
        return
    with staging_beside(folder) as staging:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=version_uri(version), dst_path=str(staging / "model")
        )
        load_model(model_file(local))  # a version that cannot serve never goes in
        write_lineage(local, version, client.get_model_version(MODEL_NAME, version).run_id)
        yield lambda: replace_folder(local, folder)


def _sync_champion_folder(client: Any, version: str) -> None:
    """Make the local champion folder hold `version` (without a tracking server)."""
    with _staged_champion_folder(client, version) as swap_in:
        swap_in()


def _repair_champion_folder(client: Any, version: str) -> None:
    """_sync_champion_folder where a run that died left the folder behind the registry; a
    champion that cannot be fetched is left to `champion --set` (a refused run still ends
    well)."""
    from mlflow.exceptions import MlflowException

    with suppress(MlflowException, OSError, ModelNotFound):
        _sync_champion_folder(client, version)


def champion_folder_version(folder: Path) -> str | None:
    """The registered version a local champion folder holds, or None."""
    if not model_file(folder).is_file():
        return None
    return model_identity(folder).version


@dataclass(frozen=True)
class ChampionStatus:
    """The champion as a team sees it: its version, what scoring serves, and its history."""

    tracking_uri: str
    version: str | None
    served: str  # what score, plan and http use by default
    folder: Path | None  # the local champion folder (None with a tracking server)
    folder_version: str | None  # the version it holds
    history: list[dict[str, Any]]


@store_errors
def champion_status() -> ChampionStatus:
    """The registry's champion and promotion history; SettingError when the tracking store
    cannot be reached."""
    from mlflow import MlflowClient

    uri = check_store()
    client = MlflowClient()
    settings = config.settings()
    folder = None if settings.tracking_configured else settings.champion_dir
    return ChampionStatus(
        tracking_uri=uri,
        version=champion_version(client),
        served=settings.model,
        folder=folder,
        folder_version=champion_folder_version(folder) if folder else None,
        history=promotion_history(client),
    )
