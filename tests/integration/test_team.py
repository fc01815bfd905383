"""A team's tracking server, for real: PostgreSQL (run as the postgres user when the tests
run as root) behind `mlflow server`, both started here and stopped after. Retrains race on
it, the gate must still leave the best model champion, and every fault is one line."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import nullcontext, suppress
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from helpers import CAMPAIGN, evidence_of, write_retrain_data
from helpers import one_line_error as cli_one_line_error

from recommender.mlops import champion, tracking
from recommender.mlops.model_store import this_machine
from recommender.mlops.signature import as_model_input
from recommender.mlops.tracking_server import free_port, running_mlflow, running_postgres

ROOT = Path(__file__).resolve().parents[2]
NAME = tracking.MODEL_NAME


@pytest.fixture(scope="module")
def server_and_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The tracking server's URL and its artifact store. Its database lives in a folder of
    its own that the postgres user can reach (pytest's are root's alone); removed after."""
    folder = tmp_path_factory.mktemp("team")
    database = Path(tempfile.mkdtemp(prefix="creator-recommender-test-pg-"))
    database.chmod(0o755)
    try:
        with (
            running_postgres(database / "data") as postgres,
            running_mlflow(postgres.uri, folder / "artifacts", log=folder / "mlflow.log") as url,
        ):
            yield url, folder / "artifacts"
    finally:
        shutil.rmtree(database, ignore_errors=True)


@pytest.fixture(scope="module")
def server(server_and_artifacts: tuple[str, Path]) -> str:
    return server_and_artifacts[0]


@pytest.fixture
def team(server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A teammate's working folder, pointed at the server, with an empty registry."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    for name in ("CREATOR_RECOMMENDER_MODEL", "CREATOR_RECOMMENDER_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.chdir(tmp_path)
    tracking.set_tracking()
    client = MlflowClient()
    for model in (NAME, champion.LOCK_MODEL):
        with suppress(MlflowException):
            client.delete_registered_model(model)
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    return tmp_path


@pytest.fixture(scope="module")
def histories(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_retrain_data(tmp_path_factory.mktemp("histories"))


def cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`creator-recommender ARGS` in its own process, as a teammate runs it."""
    return subprocess.run([sys.executable, "-m", "recommender.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def assert_history_is_a_chain(promoted: int) -> None:
    """Every promotion reported is in the history, each from the champion before it."""
    from mlflow import MlflowClient

    history = champion.promotion_history(MlflowClient())
    assert len(history) == promoted
    assert [e["number"] for e in history] == list(range(1, promoted + 1))
    for before, after in itertools.pairwise(history):
        assert after["previous"] == before["version"], history


@pytest.mark.slow
def test_racing_retrains_leave_the_best_champion(team: Path, histories: tuple[Path, Path]):
    """Three retrains at once: two on the real history (different seeds), one on shuffled
    lifts. Afterwards the champion is one of the real history's versions, never the
    shuffled one, whichever gate ran first; every promotion reported is in the history;
    scoring by default uses the champion.
    (The gate's race itself is repeated below, where a round costs seconds, not a minute.)"""
    real, shuffled = histories
    processes = []
    for index, (data, seed) in enumerate([(real, "1"), (real, "2"), (shuffled, "3")]):
        (team / f"run{index}").mkdir()
        command = [sys.executable, "-m", "recommender.cli", "train", "--data", str(data),
                   "--seed", seed, "--experiment", "team"]  # fmt: skip
        processes.append(
            subprocess.Popen(
                command,
                cwd=team / f"run{index}",
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    from mlflow import MlflowClient

    winner = champion.champion_version(MlflowClient())
    gates = [line for o in outputs for line in o.splitlines() if "champion" in line]
    shuffled_version = re.search(r"registered creator-recommender version (\d+)", outputs[2])
    assert shuffled_version is not None and winner not in (None, shuffled_version.group(1)), gates
    assert_history_is_a_chain(sum("champion now" in o or "first champion" in o for o in outputs))
    done = cli(team, "score", "--creators", str(real / "creators.csv"), "--campaign",
               "campaign.json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"scoring with version {winner} " in done.stdout
    assert "from models:/creator-recommender@champion" in done.stdout


def _gate(
    url: str, locked: bool, start_at: float, metrics: dict[str, float],
    delays: dict[str, float], version: str,
) -> bool:  # fmt: skip
    """One run's gate, as train calls it, started at `start_at` with its rivals; judging the
    champion takes `delays[version]` seconds, as loading and predicting does."""
    os.environ["MLFLOW_TRACKING_URI"] = url
    if not locked:
        champion.promotion_lock = lambda client: nullcontext()  # type: ignore[assignment]
    tracking.set_tracking()

    def judge(current: str) -> Any:
        time.sleep(delays[version])
        return evidence_of(metrics[current])

    time.sleep(max(start_at - time.time(), 0))
    try:
        return champion.champion_gate(version, evidence_of(metrics[version]), judge).promote
    except Exception:  # without the lock, rival writes of one history entry collide
        if locked:
            raise
        return False


def _warm(_: int) -> None:
    import mlflow.tracking  # noqa: F401  (a worker's imports, before the race)

    import recommender.mlops.tracking  # noqa: F401


def race(pool: ProcessPoolExecutor, url: str, locked: bool, rounds: int = 5) -> tuple[int, int]:
    """`rounds` of one gate per worker at once, each round's versions all better than any
    before (so every one of them may move the alias), the best never submitted last.
    Returns (rounds ending with the best champion, promotions reported)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.create_registered_model(NAME)
    run = client.create_run(tracking.use_experiment("race"))  # registering needs a run
    metrics: dict[str, float] = {}
    right = promoted = 0
    runs = 4
    for round_ in range(rounds):
        versions = [
            str(client.create_model_version(NAME, f"{run.info.artifact_uri}/m", run.info.run_id)
                .version)
            for _ in range(runs)
        ]  # fmt: skip
        delays = {}
        for rank, version in enumerate(versions):  # the best judges fastest, so moves first
            metrics[version] = round_ + 1 - (rank + 1) / (runs + 1)
            delays[version] = 0.1 + 0.3 * rank
        gate = partial(_gate, url, locked, time.time() + 1.0, dict(metrics), delays)
        promoted += sum(pool.map(gate, versions))
        best = max(metrics, key=metrics.__getitem__)
        right += champion.champion_version(client) == best
    return right, promoted


@pytest.mark.slow
def test_the_gate_keeps_the_best_under_a_race_that_loses_updates_without_the_lock(
    team: Path, server: str
):
    """Four gates at once, five times over, against the real server: with the lock, every
    round ends with its best version champion and every promotion is in the history;
    the same rounds without the lock lose the best (so the test can see the race): there,
    the best version moves the alias first and its slower rivals move it after."""
    from mlflow import MlflowClient

    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_warm, range(4)))
        right, promoted = race(pool, server, locked=True)
        assert right == 5
        assert_history_is_a_chain(promoted)
        MlflowClient().delete_registered_model(NAME)
        right, _ = race(pool, server, locked=False)
    assert right <= 1


def test_a_lock_left_by_a_dead_run_is_taken_over_and_a_live_one_waited_for(team: Path):
    from mlflow import MlflowClient

    from recommender.errors import SettingError

    client = MlflowClient()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    holder = f"{this_machine()} pid {dead} x"
    client.create_registered_model(champion.LOCK_MODEL, tags={"holder": holder})
    with champion.promotion_lock(client, wait_seconds=5):
        holder = client.get_registered_model(champion.LOCK_MODEL).tags["holder"]
        assert holder.startswith(f"{this_machine()} pid {os.getpid()} ")
    assert champion._lock_holder(client) is None  # released
    client.create_registered_model(champion.LOCK_MODEL, tags={"holder": "elsewhere pid 1 y"})
    with pytest.raises(SettingError, match="locked by elsewhere pid 1 y"), \
            champion.promotion_lock(client, wait_seconds=1):  # fmt: skip
        pass


@pytest.mark.slow
def test_the_training_notebook_works_against_the_team_server(team: Path):
    from helpers import NOTEBOOKS, run_notebook
    from mlflow import MlflowClient

    assert not run_notebook(next(p for p in NOTEBOOKS if p.name.startswith("02-")))
    client = MlflowClient()
    assert champion.champion_version(client) == "1"  # registered, gated and promoted there
    (run,) = client.search_runs([client.get_experiment_by_name("notebook").experiment_id])
    assert run.data.tags["promoted"] == "true"


def one_line_error(done: subprocess.CompletedProcess[str], message: str) -> None:
    """The command failed with one `error:` line holding `message` (test_cli's check)."""
    cli_one_line_error(done.returncode, done.stderr, message)


@pytest.mark.slow
def test_faults_are_one_line(
    team: Path, histories: tuple[Path, Path], server_and_artifacts: tuple[str, Path]
):
    real, _ = histories
    creators = str(real / "creators.csv")
    score = ("score", "--creators", creators, "--campaign", "campaign.json")
    # No champion in the registry yet.
    one_line_error(cli(team, *score), f"no champion yet in {server_and_artifacts[0]}")
    assert not (team / "scored.csv").exists()
    done = cli(team, "train", "--data", str(real), "--experiment", "team")
    assert done.returncode == 0 and "version 1 is the first champion" in done.stdout
    assert not (team / "models" / "champion").exists()  # the registry holds it
    shown = cli(team, "champion").stdout
    assert shown.startswith(f"champion: creator-recommender version 1 ({server_and_artifacts[0]})")
    assert "served by default: models:/creator-recommender@champion" in shown
    assert "warning" not in shown
    # A version of an older format cannot be made champion; served anyway, it is refused.
    old = register_older_format_version()
    one_line_error(cli(team, "champion", "--set", old), "older version of this package; retrain it")
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(NAME, "champion", old)
    one_line_error(cli(team, *score), "retrain it")
    assert cli(team, "champion", "--set", "1").returncode == 0
    # The champion's artifacts gone from the server's store.
    artifacts = server_and_artifacts[1]
    shutil.move(artifacts, artifacts.with_name("moved"))
    try:
        gone = "(version 1): its model files are gone from the tracking store"
        one_line_error(cli(team, *score), gone)
        one_line_error(cli(team, "champion", "--set", "1"), "its model files are gone")
    finally:
        shutil.move(artifacts.with_name("moved"), artifacts)
    # A tracking server out of reach: train stops before training, nothing is written.
    away = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    before = sorted(str(p.relative_to(team)) for p in team.rglob("*"))
    commands = (("train", "--data", str(real)), score, ("champion",))
    start = time.monotonic()  # the three at once: each waits out its own retries

    def timed(command: tuple[str, ...]) -> tuple[subprocess.CompletedProcess[str], float]:
        return cli(team, *command, env=away), time.monotonic() - start

    with ThreadPoolExecutor(len(commands)) as pool:
        for (done, seconds), command in zip(pool.map(timed, commands), commands, strict=True):
            one_line_error(done, f"{away['MLFLOW_TRACKING_URI']} cannot be reached: [Errno 111]")
            assert seconds < 60 and "held-out" not in done.stdout, (command, seconds)
    assert sorted(str(p.relative_to(team)) for p in team.rglob("*")) == before


def register_older_format_version() -> str:
    """A registered version whose model was saved by an older release (model_format 1)."""
    import copy

    import mlflow

    from recommender.datasets.simulate import generate_market
    from recommender.mlops.model_store import save_model
    from recommender.modeling.training import TrainConfig, fit_and_evaluate

    market = generate_market(n_creators=600, n_campaigns=8, seed=4)
    trained = fit_and_evaluate(market.creators, market.campaigns, market.outcomes, None,
                               TrainConfig(seed=0, folds=2, n_estimators=20))  # fmt: skip
    old = copy.copy(trained.recommender)
    old.model_format_ = 1
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run():
        save_model(old, Path(tmp) / "recommender.joblib")
        info = mlflow.pyfunc.log_model(
            name="model", registered_model_name=NAME,
            **tracking._model_kwargs(Path(tmp) / "recommender.joblib",
                                     as_model_input(trained.test, rows=3)),
        )  # fmt: skip
    return str(info.registered_model_version)


@pytest.mark.slow
def test_the_tracking_server_stops_in_one_line_when_its_postgresql_stops(tmp_path: Path):
    """`tracking-server` with its PostgreSQL stopped under it: one line naming PostgreSQL,
    MLflow stopped too, exit code 1 (MLflow's own health check kept answering)."""
    from recommender.mlops.tracking_server import database_folder, mlflow_answers, postgres_bin

    folder, port = tmp_path / "tracking", free_port()
    command = [sys.executable, "-m", "recommender.cli", "tracking-server", "--folder",
               str(folder), "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    data, user = database_folder(folder), "postgres" if os.geteuid() == 0 else None
    stop_postgres = [str(postgres_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
    try:
        assert process.stdout is not None and process.stderr is not None
        started = next((x for x in process.stdout if x.startswith("Ctrl-C stops it")), None)
        assert started, process.stderr.read()
        url = f"http://127.0.0.1:{port}"
        assert mlflow_answers(url)
        subprocess.run(stop_postgres, user=user, cwd="/", check=True, capture_output=True)
        assert mlflow_answers(url)  # MLflow alone would go on as if all were well
        returncode = process.wait(timeout=120)
        err = process.stderr.read()
        cli_one_line_error(returncode, err, "PostgreSQL at 127.0.0.1:")
        assert "stopped answering" in err and "the tracking server is stopped" in err
        assert not mlflow_answers(url)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)
        subprocess.run(stop_postgres, user=user, cwd="/", capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
