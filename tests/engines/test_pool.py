"""The pool of model-holding processes on its own: jobs and their answers, what a job
raises, a worker killed and replaced, a full queue refused, closing. The model is a
stand-in pair (any (recommender, identity) given loaded is held as it is); the jobs
are this module's functions, which forked workers have already."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from recommender.engines._pool import ModelWorkers, WorkerDied, WorkerNotStarted, WorkersBusy
from recommender.errors import ModelNotFound, ScoringError

FORK = multiprocessing.get_context("fork")
MODEL = ("the recommender", "its identity")


def echo(recommender, identity, *args):
    return recommender, identity, args, os.getpid()


def fail(recommender, identity, message):
    raise ValueError(message)


def exit_now(recommender, identity):
    os._exit(9)


def sleep(recommender, identity, seconds):
    time.sleep(seconds)
    return os.getpid()


def unpicklable(recommender, identity):
    return threading.Lock()


def cannot_warm_up(recommender, identity):
    raise RuntimeError("no warm-up here")


def running(future, seconds: float = 30) -> None:
    """Wait until a worker has taken the job of `future`."""
    deadline = time.monotonic() + seconds
    while not future.running() and not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.running()


def test_a_job_gets_the_model_and_its_arguments_in_a_worker():
    with ModelWorkers(MODEL, 2, FORK) as pool:
        answers = [pool.submit(echo, n, "x").result(timeout=60) for n in range(6)]
    assert [a[:3] for a in answers] == [(*MODEL, (n, "x")) for n in range(6)]
    assert os.getpid() not in {a[3] for a in answers}


def test_jobs_are_shared_by_the_workers():
    with ModelWorkers(MODEL, 2, FORK) as pool:
        pool.wait_ready()
        assert pool.ready
        first, second = pool.submit(sleep, 1.0), pool.submit(sleep, 1.0)
        assert first.result(timeout=60) != second.result(timeout=60)  # one each, at once


def test_large_jobs_handed_over_two_at_a_time_do_not_wait_on_their_answers():
    """The next job is sent while the worker writes the last answer, both larger than a
    pipe holds: neither side may wait for the other to read."""
    data = os.urandom(8 * 2**20)
    with ModelWorkers(MODEL, 1, FORK, depth=2) as pool:
        jobs = [pool.submit(echo, data) for _ in range(4)]
        assert all(job.result(timeout=60)[2] == (data,) for job in jobs)


def test_what_a_job_raises_its_future_raises_and_the_worker_goes_on():
    with ModelWorkers(MODEL, 1, FORK) as pool:
        pid = pool.submit(echo).result(timeout=60)[3]
        with pytest.raises(ValueError, match="the request's own fault"):
            pool.submit(fail, "the request's own fault").result(timeout=60)
        assert pool.submit(echo).result(timeout=60)[3] == pid


def test_an_answer_that_cannot_be_sent_back_is_an_error_of_that_job_only():
    with ModelWorkers(MODEL, 1, FORK) as pool:
        with pytest.raises(ScoringError, match="TypeError: cannot pickle"):
            pool.submit(unpicklable).result(timeout=60)
        assert pool.submit(echo, 1).result(timeout=60)[2] == (1,)


@pytest.mark.parametrize("how", ["exits", "killed"])
def test_a_worker_that_dies_fails_its_jobs_and_another_takes_its_place(how: str):
    with ModelWorkers(MODEL, 1, FORK, depth=2) as pool:
        pid = pool.submit(echo).result(timeout=60)[3]
        if how == "exits":
            held = [pool.submit(exit_now), pool.submit(echo)]  # two jobs handed over at once
        else:
            held = [pool.submit(sleep, 30)]
            running(held[0])
            os.kill(pid, signal.SIGKILL)
        for job in held:
            with pytest.raises(WorkerDied, match="a worker process ended"):
                job.result(timeout=60)
        replacement = pool.submit(echo).result(timeout=60)[3]
        assert replacement != pid


def test_jobs_beyond_max_waiting_are_refused_at_once():
    with ModelWorkers(MODEL, 1, FORK, max_waiting=1) as pool:
        busy = pool.submit(sleep, 2)
        running(busy)
        waiting = pool.submit(echo, "waits")
        with pytest.raises(WorkersBusy, match="1 jobs are waiting") as refused:
            pool.submit(echo, "refused")
        assert refused.value.waiting == 1
        assert waiting.result(timeout=60)[2] == ("waits",)
        assert pool.submit(echo, "room again").result(timeout=60)[2] == ("room again",)


def test_close_ends_the_workers_at_once_and_cancels_what_waits():
    pool = ModelWorkers(MODEL, 1, FORK).start()
    held = pool.submit(sleep, 60)
    running(held)
    waiting = pool.submit(echo)
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 10  # not the 60 s of the job held
    assert waiting.cancelled()
    with pytest.raises(WorkerDied):
        held.result(timeout=1)
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(echo)


def test_close_without_cancel_does_the_jobs_submitted_first():
    pool = ModelWorkers(MODEL, 1, FORK, depth=2).start()
    jobs = [pool.submit(echo, n) for n in range(4)]
    pool.close(cancel=False)
    assert [job.result(timeout=1)[2] for job in jobs] == [(n,) for n in range(4)]


def test_a_model_that_cannot_load_is_raised_by_each_job(tmp_path: Path):
    with ModelWorkers(str(tmp_path / "no-model-here"), 1, FORK) as pool:
        for _ in range(2):
            with pytest.raises(ModelNotFound):
                pool.submit(echo).result(timeout=60)


def test_a_worker_that_cannot_start_is_said_and_fails_the_jobs():
    with ModelWorkers(MODEL, 1, FORK, warm_up=cannot_warm_up) as pool:
        with pytest.raises(WorkerNotStarted, match="could not start a worker process: exit"):
            pool.wait_ready()
        assert not pool.ready
        with pytest.raises(WorkerNotStarted):
            pool.submit(echo).result(timeout=60)


def test_workers_take_the_folder_and_environment_of_the_process_that_starts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Forked from the forkserver, started before: not from this process as it is now."""
    from recommender.engines import _forkserver

    _forkserver.start()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POOL_TEST_SETTING", "as set here")
    with ModelWorkers(MODEL, 1, _forkserver.context()) as pool:
        assert pool.submit(where).result(timeout=120) == (str(tmp_path), "as set here")


def where(recommender, identity):
    return os.getcwd(), os.environ.get("POOL_TEST_SETTING")
