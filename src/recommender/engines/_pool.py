"""One pool of model-holding processes, for the batch engine and the HTTP service alike.

    with ModelWorkers(model, workers=2) as pool:
        future = pool.submit(job, pairs)  # job(recommender, identity, pairs), in a worker
        scored = future.result()

Each worker process holds the model: given loaded, as (recommender, identity), or
loaded there from a folder, a file or an MLflow URI (None: the champion), once, or
with `follow` for every job, so that a promotion reaches the next job (model_store
caches what has not changed). It runs one job at a time, `job(recommender, identity,
*args)`, where `job` is a module-level function the worker imports by name. Jobs
wait in one queue; whichever worker is free takes the next.

The one failure protocol: what a job raises, its future raises. A worker that ends
while it holds jobs (killed, out of memory) fails them with WorkerDied, and a new
process takes its place; a worker that cannot start fails the next job it would
have taken with WorkerNotStarted. With `max_waiting`, a job submitted while that
many wait for a worker is refused at once with WorkersBusy.

A context of multiprocessing starts the workers: the forkserver, which _forkserver
preloads with the models' libraries, or "fork", where this process holds the model
already. They take this process's working folder, environment, warning filters and
memory setting (WorkerSetup), ignore Ctrl-C (this process handles it, and ends
them), and end with this process, however it ends. The worker's side is _worker.
"""

from __future__ import annotations

import pickle
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Literal

from recommender.engines._setup import WorkerSetup
from recommender.errors import ScoringError, one_line

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

RESTART_PAUSE_SECONDS = 0.5  # between starts of a worker that keeps failing to start
STOP_WAIT_SECONDS = 5.0
# One process starts at a time: a fork meanwhile would copy the other's end of the pipe
# being handed over, and keep it open after that worker ends (its end never seen to close).
_STARTING = threading.Lock()


class WorkerDied(ScoringError):
    """A worker process ended while it held the job (killed, out of memory): the job was
    not done."""


class WorkerNotStarted(WorkerDied):
    """A worker process could not start, or ended before it was ready (`why`)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"could not start a worker process: {why}")
        self.why = why


class WorkersBusy(ScoringError):
    """Refused at once: `waiting` jobs wait already for a free worker."""

    def __init__(self, waiting: int) -> None:
        super().__init__(f"the workers are busy: {waiting} jobs are waiting; try again shortly")
        self.waiting = waiting


class ModelWorkers:
    """`workers` processes holding `model`, taking jobs from one queue (see the module).

    `context`: how the workers start (see the module). `follow`: load the model
    afresh for each job (a model given loaded never changes). `warm_up(recommender,
    identity)` runs in each worker before it says it is ready, so that its first job
    pays for no compiled code. `depth` jobs are handed to a worker at once: 2 keeps
    a batch worker busy while its next chunk travels; 1 gives each job to the first
    worker free.
    """

    def __init__(
        self,
        model: Any,
        workers: int,
        context: BaseContext,
        *,
        follow: bool = False,
        warm_up: Callable[..., object] | None = None,
        max_waiting: int | None = None,
        depth: int = 1,
    ) -> None:
        if workers < 1 or depth < 1 or (max_waiting is not None and max_waiting < 0):
            raise ValueError("workers and depth must be at least 1, max_waiting at least 0")
        self.workers, self.depth, self.max_waiting = workers, depth, max_waiting
        self.context = context
        self._start = (model, WorkerSetup.here(one_thread=workers > 1), warm_up, follow,
                       depth > 1)  # fmt: skip
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._waiting = 0  # jobs in the queue
        self._idle = 0  # workers waiting for the queue to give them one
        self._lock = threading.Lock()
        self._closing = False
        self._slots: list[_Slot] = []

    def __enter__(self) -> ModelWorkers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> ModelWorkers:
        """Start the workers, and return (jobs wait until a worker is ready). Forked ones
        are forked here: a fork copies only the thread that forks, and this one holds
        none of the locks the others may hold at that moment."""
        if not self._slots:
            forked = self.context.get_start_method() == "fork"
            first = [_Process(self) if forked else None for _ in range(self.workers)]
            self._slots = [_Slot(self, n, process) for n, process in enumerate(first)]
        return self

    def wait_ready(self) -> None:
        """Wait until every worker has started once (its model loaded, warmed up);
        WorkerNotStarted if one could not."""
        for slot in self._slots:
            slot.first_started.wait()
        failures = [slot.failure for slot in self._slots if slot.failure]
        if failures:
            raise WorkerNotStarted(failures[0])

    @property
    def ready(self) -> bool:
        """Whether every worker has started once."""
        return all(s.first_started.is_set() and not s.failure for s in self._slots)

    def submit(self, job: Callable[..., Any], *args: Any) -> Future[Any]:
        """A future of job(recommender, identity, *args) in the first worker free;
        WorkersBusy when `max_waiting` jobs wait already for a worker."""
        done: Future[Any] = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("the workers are closed")
            beyond_idle = self._waiting - self._idle  # (idle ones are taking theirs)
            if self.max_waiting is not None and beyond_idle >= self.max_waiting:
                raise WorkersBusy(beyond_idle)
            self._waiting += 1
            self._jobs.put(_Job(job, args, done))  # (under the lock: close sees every job)
        return done

    def close(self, cancel: bool = True) -> None:
        """Stop the workers and wait until they have. With `cancel`, at once: the jobs
        that wait are cancelled, those being done fail with WorkerDied; else the jobs
        submitted are done first."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            dropped = self._drain() if cancel else []
            for _ in self._slots:
                self._jobs.put(None)
        for job in dropped:
            job.done.cancel()
        if cancel:
            for slot in self._slots:
                slot.end_worker()
        for slot in self._slots:
            slot.join()

    def _drain(self) -> list[_Job]:
        """Take every job from the queue (under the lock)."""
        taken: list[_Job] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return taken
            if job is not None:
                self._waiting -= 1
                taken.append(job)

    def _next_job(self, block: bool) -> _Job | Literal[False] | None:
        """The next job (None: stop), or False when none waits and `block` is False."""
        if not block:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return False
            idle = 0
        else:
            with self._lock:
                self._idle += 1
            job, idle = self._jobs.get(), 1
        with self._lock:  # one step: the jobs beyond the idle workers stay as they were
            self._idle -= idle
            self._waiting -= job is not None
        return job


@dataclass(frozen=True)
class _Job:
    call: Callable[..., Any]
    args: tuple[Any, ...]
    done: Future[Any]


class _Slot:
    """One worker's place in the pool: a thread of this process hands it jobs, and
    starts another process when it ends."""

    def __init__(self, pool: ModelWorkers, number: int, first: _Process | None) -> None:
        self.pool = pool
        self.worker = first
        self.first_started = threading.Event()  # its first worker is ready, or failed
        self.failure = ""  # why its first worker failed
        self.thread = threading.Thread(target=self._run, name=f"model-worker-{number}",
                                       daemon=True)  # fmt: skip
        self.thread.start()

    def join(self) -> None:
        """Wait until the slot has stopped its worker."""
        self.thread.join()

    def end_worker(self) -> None:
        """End the worker now (the pool is closing): the jobs it holds fail."""
        worker = self.worker
        if worker is not None:
            worker.terminate()

    def _run(self) -> None:
        worker = self.worker
        while True:
            why = None
            try:
                worker = worker or _Process(self.pool)
            except Exception as exc:  # the context could not start one (a broken library)
                why = one_line(exc)
            if not self._keep(worker):
                return
            if worker is not None:
                why = worker.started()
            if not self.first_started.is_set():
                self.failure = why or ""
                self.first_started.set()
            if worker is not None and why is None:
                go_on = self._serve(worker)
            else:
                go_on = self._fail_next(WorkerNotStarted(why or "it did not say why"))
            if not go_on or self.pool._closing:
                return
            worker = None

    def _keep(self, worker: _Process | None) -> bool:
        """Make `worker` this slot's; False (and it stopped) when the pool is closing."""
        with self.pool._lock:
            self.worker = worker
            closing = self.pool._closing
        if closing and worker is not None:
            worker.stop()
        return not closing

    def _serve(self, worker: _Process) -> bool:
        """Hand jobs to `worker` until the pool stops it (False) or it ends (True)."""
        held: deque[Future[Any]] = deque()  # the futures of the jobs sent, in order
        stopping = False
        try:
            while True:
                if not stopping and len(held) < self.pool.depth:
                    job = self.pool._next_job(block=not held)
                    stopping = job is None
                    if job:
                        held.append(job.done)  # (failed with the others if the pipe breaks)
                        if not worker.send(job):
                            held.pop()
                        job = None  # sent: its arguments need not be kept here meanwhile
                        continue
                if not held:
                    if stopping:
                        worker.stop()
                        return False
                    continue
                answer = worker.receive()  # (before the job leaves `held`: it may fail)
                _settle(held.popleft(), answer)
        except (EOFError, OSError):  # the process ended: the jobs it held with it
            worker.stop()
            died = WorkerDied(f"a worker process ended ({worker.ended()}) while it held "
                              "this job")  # fmt: skip
            for done in held:
                done.set_exception(died)
            return True

    def _fail_next(self, error: WorkerNotStarted) -> bool:
        """Fail the next job with `error`, after a pause; False when the pool stops."""
        job = self.pool._next_job(block=True)
        if not job:  # (None: blocking, it waits for a job or the end)
            return False
        if job.done.set_running_or_notify_cancel():
            job.done.set_exception(error)
        time.sleep(RESTART_PAUSE_SECONDS)
        return True


def _settle(done: Future[Any], answer: tuple[str, Any]) -> None:
    kind, value = answer
    if kind == "raised":
        done.set_exception(value)
    else:
        done.set_result(value)


class _Process:
    """One worker process and the pipe to it."""

    def __init__(self, pool: ModelWorkers) -> None:
        with _STARTING:
            self.pipe, theirs = pool.context.Pipe()
            try:
                start = (theirs, *pool._start)
                # (every context has Process; typeshed's BaseContext does not say so)
                Process = pool.context.Process  # type: ignore[attr-defined]
                self.process = Process(target=_worker_main, args=start, daemon=True)
                self.process.start()
            finally:
                theirs.close()

    def started(self) -> str | None:
        """Wait until the worker is ready: None, or why it never will be."""
        try:
            said = pickle.loads(self.pipe.recv_bytes())
        except (EOFError, OSError):
            self.stop()
            return self.ended()
        if said != ("ready", None):  # (out of step: not a worker to hand jobs to)
            self.stop()
            return f"it said {said!r} before it was ready"
        return None

    def send(self, job: _Job) -> bool:
        """Hand `job` to the worker; False when it was cancelled, or failed as it could
        not be sent (it did not pickle)."""
        if not job.done.set_running_or_notify_cancel():
            return False
        try:
            message = pickle.dumps((job.call, job.args), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            job.done.set_exception(ScoringError(f"the job could not be sent: {one_line(exc)}"))
            return False
        self.pipe.send_bytes(message)
        return True

    def receive(self) -> tuple[str, Any]:
        """The worker's next answer: ("done", result) or ("raised", exception)."""
        said = self.pipe.recv_bytes()
        try:
            answer: tuple[str, Any] = pickle.loads(said)
        except Exception as exc:  # an exception of a class that does not unpickle
            return "raised", ScoringError(f"the answer could not be read: {one_line(exc)}")
        return answer

    def ended(self) -> str:
        """How the process ended, for people."""
        self.process.join(timeout=1.0)
        code = self.process.exitcode
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def terminate(self) -> None:
        """Ask the process to end (SIGTERM), not waiting for it."""
        self.process.terminate()

    def stop(self) -> None:
        """End the process, and wait until it has."""
        self.pipe.close()
        self.terminate()
        self.process.join(timeout=STOP_WAIT_SECONDS)


def _worker_main(pipe: Connection, *start: Any) -> None:
    """What a worker process runs: _worker.serve, imported only there (it loads the tree
    kernels, which this process may not need)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # before the imports: Ctrl-C is the job's
    from recommender.engines import _worker

    _worker.serve(pipe, *start)
