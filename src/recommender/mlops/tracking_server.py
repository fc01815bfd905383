"""A team's tracking server on one machine: PostgreSQL for runs and the registry, an MLflow
server in front of it, artifacts in a folder on disk.

    creator-recommender tracking-server [--folder tracking] [--port 5000]

starts both and stops both on Ctrl-C; when either stops answering, it says which
in one line, stops the other and exits 1. The test suite starts the same pair
through `running_server`. For a team's real server, run `mlflow server` against
the team's PostgreSQL with the artifacts on shared storage (the README's team
section); this module is for trying that on one machine.

PostgreSQL refuses to run as root: as root, the database runs as the `postgres`
user with its files in that user's home (Debian's /var/lib/postgresql), since
the user cannot be assumed to reach a folder of root's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from recommender import _libc
from recommender.errors import SettingError

DATABASE = "mlflow"
SUPERUSER = "postgres"
START_SECONDS = 120.0  # the first start of MLflow on a new database creates its tables
POLL_SECONDS = 2.0  # how often a running server's PostgreSQL and MLflow are asked
ANSWER_SECONDS = 5.0  # how long each may take to answer
MISSES = 3  # unanswered polls in a row that mean stopped


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server this module started: where its files are and how to reach it."""

    data_dir: Path
    port: int
    bin_dir: Path
    user: str | None  # the system user it runs as (None: this process's)

    @property
    def uri(self) -> str:
        """The SQLAlchemy URI of the MLflow database (psycopg2, over loopback TCP)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_bin() -> Path:
    """The folder of PostgreSQL's server programs: pg_ctl on PATH, else Debian's newest
    /usr/lib/postgresql/N/bin. SettingError when there is none."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if not debian:
        raise SettingError(
            "PostgreSQL's server programs are not installed (no pg_ctl on PATH or under "
            "/usr/lib/postgresql); install Debian's postgresql package"
        )
    return debian[-1].parent


def _system_user() -> str | None:
    """The user PostgreSQL must run as: this process's own, or `postgres` when this is root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise SettingError(
            "PostgreSQL refuses to run as root and there is no `postgres` user to run it as"
        ) from None
    return SUPERUSER


def database_folder(folder: Path) -> Path:
    """Where the database files of a tracking folder live: inside it, or (as root) under the
    postgres user's home, named after the folder."""
    if _system_user() is None:
        return folder / "postgres"
    tag = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    return Path(pwd.getpwnam(SUPERUSER).pw_dir) / "creator-recommender" / tag


def _run(command: list[str], user: str | None, what: str) -> None:
    done = subprocess.run(command, user=user, capture_output=True, text=True, cwd="/")
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no message"]
        raise SettingError(f"{what} failed: {last[0]}")


def _own(path: Path, user: str | None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)


@contextlib.contextmanager
def running_postgres(data_dir: Path, port: int | None = None) -> Iterator[Postgres]:
    """Start PostgreSQL on 127.0.0.1 with its files in data_dir (made on first use, with the
    MLflow database in it); stop it on leaving."""
    user, bin_dir = _system_user(), postgres_bin()
    server = Postgres(data_dir, port or free_port(), bin_dir, user)
    if user is not None:
        for parent in reversed([data_dir, *data_dir.parents]):
            if not parent.exists():
                _own(parent, user)
    if not (data_dir / "PG_VERSION").is_file():
        _own(data_dir, user)
        _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "--auth=trust",
              "-E", "UTF8", "--no-instructions"], user, "initdb")  # fmt: skip
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data_dir)]
    if subprocess.run([*pg_ctl, "status"], user=user, capture_output=True, cwd="/").returncode == 0:
        # left running by a start that was killed (pg_ctl runs it in the background)
        _run([*pg_ctl, "-m", "fast", "-w", "stop"], user, "stopping a leftover PostgreSQL")
    options = f"-p {server.port} -k {data_dir} -c listen_addresses=127.0.0.1"
    _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(data_dir / "server.log"),
          "-o", options, "-w", "-t", "60", "start"], user,
         f"starting PostgreSQL in {data_dir}")  # fmt: skip
    try:
        _create_database(server)
        yield server
    finally:
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w",
                        "stop"], user=user, capture_output=True, cwd="/")  # fmt: skip


def _create_database(server: Postgres) -> None:
    psql = [str(server.bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(server.port),
            "-U", SUPERUSER, "-tAc"]  # fmt: skip
    found = subprocess.run([*psql, f"SELECT 1 FROM pg_database WHERE datname='{DATABASE}'"],
                           capture_output=True, text=True, cwd="/")  # fmt: skip
    if found.stdout.strip() != "1":
        _run([*psql, f"CREATE DATABASE {DATABASE}"], None, "creating the MLflow database")


@contextlib.contextmanager
def running_mlflow(
    backend_uri: str, artifacts: Path, host: str = "127.0.0.1", port: int | None = None,
    workers: int = 2, log: Path | None = None,
) -> Iterator[str]:  # fmt: skip
    """Start `mlflow server` on backend_uri, serving the artifacts kept in the folder
    `artifacts`; yields its URL once it answers, stops it on leaving."""
    port = port or free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
               "--artifacts-destination", str(artifacts.resolve()), "--host", host,
               "--port", str(port), "--workers", str(workers)]  # fmt: skip
    env = {
        # MLflow's job runner (GenAI features) starts a dozen worker processes, some 2 GB
        # of memory a team's model registry does not need; the environment may still ask.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT,
                              preexec_fn=_libc.die_with_parent, start_new_session=True)  # fmt: skip
    url = f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}"
    try:
        _wait_until_up(url, server, log)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()
        if log:
            output.close()  # type: ignore[union-attr]


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path | None) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            where = f"; see {log}" if log else ""
            raise SettingError(f"mlflow server exited with code {server.returncode}{where}")
        if mlflow_answers(url, timeout=2):
            return
        time.sleep(0.5)
    raise SettingError(f"mlflow server did not answer at {url} within {START_SECONDS:.0f} s")


def mlflow_answers(url: str, timeout: float = ANSWER_SECONDS) -> bool:
    """Whether the MLflow server at `url` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def postgres_answers(database: Postgres) -> bool:
    """Whether the PostgreSQL server accepts connections (its own pg_isready)."""
    command = [str(database.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p",
               str(database.port), "-t", str(int(ANSWER_SECONDS)), "-q"]  # fmt: skip
    return subprocess.run(command, capture_output=True, cwd="/").returncode == 0


@dataclass(frozen=True)
class TrackingServer:
    """A tracking server running_server started: MLflow's URL and the PostgreSQL behind it."""

    url: str
    database: Postgres

    def stopped(self) -> str | None:
        """Which of the two no longer answers, in one line; None while both do. MLflow's
        own health check does not look at its database, so each is asked."""
        if not postgres_answers(self.database):
            return (f"PostgreSQL at 127.0.0.1:{self.database.port} stopped answering (its "
                    f"log: {self.database.data_dir / 'server.log'})")  # fmt: skip
        if not mlflow_answers(self.url):
            return f"the MLflow server at {self.url} stopped answering"
        return None

    def wait_until_stopped(self, poll_seconds: float = POLL_SECONDS) -> str:
        """Block while both answer; return stopped()'s line once it has held for MISSES polls
        in a row (a busy moment is not a stop)."""
        missed = 0
        while True:
            problem = self.stopped()
            missed = missed + 1 if problem else 0
            if problem and missed >= MISSES:
                return problem
            time.sleep(poll_seconds)


@contextlib.contextmanager
def running_server(
    folder: Path, host: str = "127.0.0.1", port: int | None = None, workers: int = 2
) -> Iterator[TrackingServer]:
    """PostgreSQL and MLflow for a tracking folder (artifacts in folder/artifacts, the
    server's log in folder/mlflow.log); yields them, as a TrackingServer, once both answer."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "artifacts").mkdir(exist_ok=True)
    with (
        running_postgres(database_folder(folder)) as database,
        running_mlflow(
            database.uri, folder / "artifacts", host, port, workers, folder / "mlflow.log"
        ) as url,  # fmt: skip
    ):
        yield TrackingServer(url, database)
