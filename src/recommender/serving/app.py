"""The scoring service over HTTP: JSON in, JSON out (FastAPI; OpenAPI at /docs and /openapi.json).

    POST /score  {"campaign": {...}, "creators": [{...}, ...], "top": 10, "echo_extras": false}
                 -> {"scored": [...], "rejected": [...], "counts": {...}, "model": {...}}
    POST /plan   {"campaign": {...}, "creators": [...], "budget_usd": 3000, "explore": 0.2,
                  "constraints": {"max_niche_share": 0.5, ...}}
                 -> {"chosen": [...], "summary": {...}, "rejected": [...]}
    GET  /health -> {"status": "ok", "ready": true, "model": {"version": ..., "run_id": ...}}

Every answer names the model that made it: the X-Model-Version and X-Model-Run
headers, and the `model` field of /score (and of /plan's summary). With no model
given, the service serves the champion and follows it: a promotion is picked up
by the next request (a champion folder) or within model_store.ALIAS_SECONDS (the
registry's @champion), with no restart.

Bounded and guarded before anything is parsed: a body over `max_body_bytes` gets a
413, and with an API key set every path but the OpenAPI pages needs it (401). A
client has `header_timeout_s` for its request line and headers (at most
MAX_HEADER_BYTES of them) and `body_timeout_s` for its body, else it is cut off
(408); the bodies held at once stay under `max_buffered_bytes` (more get a 503 with
Retry-After before they are read). A request is also refused (413) for more than
MAX_CREATORS creators or more than `max_extra_keys` distinct keys outside the
creators contract; those extra keys come back in the answer only when the request
asks (`echo_extras`). A key the request's own fields do not have is a 422 naming it,
as is a key given twice in one object. More than `max_waiting` requests waiting for
a scoring process get a 503 with Retry-After. Every refusal is {"error": "..."} with
a 4xx, never a 500, uvicorn's own answers to malformed HTTP included.

Scoring runs in `workers` processes (`creator-recommender http --workers N`), each
loading the model itself and scoring one request at a time: the work is CPU-bound,
and threads would only take turns holding the GIL. The process that listens reads,
checks and answers requests, and hands each to whichever scoring process is free,
so every core works however the clients hold their connections (with workers that
each listened themselves, a burst of kept-alive connections lands on one of them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import errno
import hmac
import json
import math
import multiprocessing
import os
import pickle
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.config import JsonDict
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from recommender import __version__, _trees, config, contract
from recommender.api import plan
from recommender.errors import ContractError, ModelNotFound, ScoringError, SettingError
from recommender.mlops.model_store import ModelIdentity, load_model, loaded_model
from recommender.scoring import read_names, score_with_rejects
from recommender.scoring.planning import EXCLUDED_FLAGS, Constraints

MAX_CREATORS = 100_000
MAX_BODY_BYTES = 8 * 2**20  # about 30,000 creators of the contract's columns
MAX_EXTRA_KEYS = 50
MAX_WAITING = 64  # requests waiting for a scoring process: more get a 503 and Retry-After
HEADER_TIMEOUT_S = 10.0  # from a connection's first byte (or its opening) to its headers' end
BODY_TIMEOUT_S = 60.0  # from the headers' end to the body's: 8 MB at about 1 Mbit/s
BUFFERED_BODIES = 8  # bodies of the largest size held at once, by default
MAX_HEADER_BYTES = 64 * 2**10  # the request line and headers: clients send a few KB
API_KEY_ENV = "CREATOR_RECOMMENDER_API_KEY"
# Readable without the API key: the service's description, nothing it serves.
OPEN_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
_CONTRACT_KEYS = frozenset([*contract.CREATORS.names, "campaign_id"])
# A campaign's keys the contract reads: its columns, and the other columns exports carry.
_CAMPAIGN_KEYS = frozenset([*contract.CAMPAIGNS.names, *contract.HEADER_SYNONYMS["campaigns"]])


@dataclass(frozen=True)
class ServiceSettings:
    """How the service runs: the model (None: the champion, followed), where its API key
    is (None: $CREATOR_RECOMMENDER_API_KEY, or no key when that is unset), its bounds,
    and how many scoring processes it keeps."""

    model: str | None = None
    api_key_file: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    max_extra_keys: int = MAX_EXTRA_KEYS
    workers: int = field(default_factory=config.default_workers)
    max_waiting: int = MAX_WAITING
    header_timeout_s: float = HEADER_TIMEOUT_S
    body_timeout_s: float = BODY_TIMEOUT_S
    max_buffered_bytes: int | None = None  # None: BUFFERED_BODIES bodies of the largest size

    def __post_init__(self) -> None:
        if min(self.max_body_bytes, self.workers, self.max_waiting) < 1 or self.max_extra_keys < 0:
            raise SettingError(
                "the body limit, the worker count and the waiting requests must be at least 1, "
                "and the extra-key limit at least 0"
            )
        if not all(0 < s < math.inf for s in (self.header_timeout_s, self.body_timeout_s)):
            raise SettingError("the header and body timeouts must be positive numbers of seconds")
        if self.buffered_limit < self.max_body_bytes:
            raise SettingError("the bytes buffered across requests must be at least the body "
                               "limit, or no body of that size could ever be read")  # fmt: skip

    @property
    def buffered_limit(self) -> int:
        """The most request-body bytes the service holds at once, over all requests."""
        if self.max_buffered_bytes is None:
            return BUFFERED_BODIES * self.max_body_bytes
        return self.max_buffered_bytes

    def api_key(self) -> bytes | None:
        """The key every request must carry: the file's text, else the environment's.
        SettingError for a key no header can carry (empty, spaces, not printable ASCII)."""
        if self.api_key_file is None:
            if API_KEY_ENV not in os.environ:
                return None
            return _header_safe(os.environ[API_KEY_ENV].strip(), API_KEY_ENV)
        try:
            key = Path(self.api_key_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeError) as exc:
            raise SettingError(f"{self.api_key_file}: cannot read the API key ({exc})") from None
        return _header_safe(key, self.api_key_file)


def _header_safe(key: str, where: str) -> bytes:
    if not key:
        raise SettingError(f"{where}: the API key is empty")
    if not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):
        raise SettingError(f"{where}: an API key is printable ASCII without spaces "
                           "(clients send it in a header)")  # fmt: skip
    return key.encode()


EXAMPLE_CAMPAIGN: JsonDict = {"campaign_id": "spring-pet", "niche": "pet", "objective": "sales",
                    "target_country": "US", "product_price_usd": 30}  # fmt: skip
EXAMPLE_CREATORS: list[JsonValue] = [
    {"creator_id": "ana.paws", "platform": "instagram", "followers": 8_200, "avg_likes": 610,
     "avg_comments": 38, "niche": "pet", "audience_country": "US", "recent_posts": 24,
     "recent_sponsored_posts": 3, "price_per_post_usd": 90},
    {"creator_id": "big.dog.daily", "platform": "TikTok", "followers": "12.5K",
     "avg_likes": "1,040", "avg_comments": 61, "niche": "Pets"},
]  # fmt: skip


class ScoreRequest(BaseModel):
    """POST /score's body. A key it does not have is refused (a 422), not ignored."""

    # strict: what the document says; forbid: a misspelt key would otherwise go unnoticed
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={
        "examples": [{"campaign": EXAMPLE_CAMPAIGN, "creators": EXAMPLE_CREATORS, "top": 10}]
    })  # fmt: skip

    campaign: dict[str, Any] = Field(description="one campaign, in the campaigns contract")
    creators: list[dict[str, Any]] = Field(
        min_length=1, description="candidate creators, in the creators contract"
    )
    top: int | None = Field(default=None, ge=1, description="keep the best `top` per campaign")
    echo_extras: bool = Field(
        default=False, description="return the creators' keys outside the contract too"
    )


class ScoreResponse(BaseModel):
    """POST /score's answer: scored rows, rejected rows with reasons, and their counts."""

    scored: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    counts: dict[str, int]
    model: dict[str, Any] = Field(description="the model that scored: version, run, format")


class PlanConstraints(BaseModel):
    """recommender.scoring.planning.Constraints, which checks the values (a 422 when it refuses).
    A key it does not have is refused: the plan would break the limit that was meant."""

    model_config = ConfigDict(strict=True, extra="forbid")

    target_country: str | None = Field(default=None, description="audience must be there")
    min_followers: float | None = None
    max_followers: float | None = None
    max_sponsorship_ratio: float | None = None
    excluded_flags: list[str] = Field(
        default=list(EXCLUDED_FLAGS), description="accounts with these flags are not hired"
    )
    max_niche_share: float | None = None
    max_segment_share: float | None = Field(
        default=None, description="per niche x audience country x tier"
    )


class PlanRequest(BaseModel):
    """POST /plan's body. A key it does not have is refused (a 422), not ignored."""

    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={"examples": [
        {"campaign": EXAMPLE_CAMPAIGN, "creators": EXAMPLE_CREATORS, "budget_usd": 500,
         "explore": 0.2, "constraints": {"max_niche_share": 0.8}}
    ]})  # fmt: skip

    campaign: dict[str, Any] = Field(description="one campaign, in the campaigns contract")
    creators: list[dict[str, Any]] = Field(
        min_length=1, description="candidates, in the creators contract"
    )
    budget_usd: float = Field(gt=0, le=contract.MAX_MAGNITUDE, allow_inf_nan=False)
    explore: float = Field(default=0.0, ge=0, lt=1, description="budget share for learning")
    constraints: PlanConstraints = Field(default_factory=PlanConstraints)
    echo_extras: bool = Field(
        default=False, description="return the creators' keys outside the contract too"
    )


class PlanResponse(BaseModel):
    """POST /plan's answer: the chosen creators, the plan's summary, and rejected rows."""

    chosen: list[dict[str, Any]]
    summary: dict[str, Any]
    rejected: list[dict[str, Any]]


class HealthResponse(BaseModel):
    """GET /health's answer: up, ready to score, and the model it serves."""

    status: str
    ready: bool
    model: dict[str, Any] | None = Field(
        default=None, description="source, version, run_id, model_format, trained_at"
    )
    error: str | None = None


class ErrorResponse(BaseModel):
    """Every refusal: one line saying what was wrong."""

    error: str


def _refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    said = {400: "not JSON the service can read", 401: "no API key, or a wrong one",
            413: "too large: the body, the creators or their extra keys",
            422: "a request the contract refuses",
            503: "no model, the service busy, or a scoring process stopped"}  # fmt: skip
    return {s: {"model": ErrorResponse, "description": said[s]} for s in statuses}


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The app. The model loads here, so that a missing one fails before serving; the
    scoring processes start (and load it) with the app's lifespan."""
    settings = settings or ServiceSettings()
    load_model(settings.model)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.scorers = Scorers(settings)
        try:
            await app.state.scorers.started()
            yield
        finally:
            app.state.scorers.close()

    app = FastAPI(
        title="creator-recommender",
        description="Rank creators for a campaign: fit, expected sales lift with an interval, "
        "return per dollar, flags and reasons.",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.api_key = key = settings.api_key()
    if key is not None:
        app.openapi = lambda: _document_with_a_key(app)  # type: ignore[method-assign]
    app.add_exception_handler(RequestValidationError, _bad_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(ModelNotFound, _no_model)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _failed)
    app.add_middleware(Guard, settings=settings, api_key=key)
    app.include_router(router)
    return app


def _document_with_a_key(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document saying how to send the key (clients and /docs read it)."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)  # fmt: skip
        document.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        document["security"] = [{"bearer": []}, {"apiKey": []}]
        app.openapi_schema = document
    return app.openapi_schema


@dataclass(frozen=True)
class Answer:
    """What a scoring process sends back: the status, the JSON body, the model that made
    it (None when none did), and the seconds the process worked on it."""

    status: int
    body: bytes
    identity: ModelIdentity | None = None
    work_seconds: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls,
        payload: Mapping[str, Any],
        identity: ModelIdentity | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """`payload` as JSON (numpy and pandas values included)."""
        try:
            body = orjson.dumps(payload, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY)
        except orjson.JSONEncodeError as exc:  # _unwritable should have refused the request
            status, body = 500, orjson.dumps({"error": f"the answer is not JSON: {exc}"})
        return cls(status, body, identity, headers=tuple((headers or {}).items()))

    def response(self, request: Request | None = None) -> Response:
        """The HTTP answer, naming the model in its headers when one made it, and where the
        time went (Server-Timing: the scoring process's work, and the whole request's
        from its first byte, which adds reading, checking and handing it over)."""
        headers = dict(self.headers)
        if self.identity is not None:
            headers["X-Model-Version"] = self.identity.version or "unregistered"
            headers["X-Model-Run"] = self.identity.run_id or "unknown"
        received = request.scope.get("received_at") if request is not None else None
        if received is not None:
            total_ms = (time.perf_counter() - received) * 1000
            work_ms = self.work_seconds * 1000
            headers["Server-Timing"] = f"score;dur={work_ms:.2f}, total;dur={total_ms:.2f}"
        return Response(self.body, self.status, headers, media_type="application/json")


class Scorers:
    """The scoring processes: `settings.workers` of them, each with the model loaded and
    one request at a time, each request going to whichever is free first.

    A process that dies (killed, out of memory) fails only the request it held (a 503)
    and is replaced. At most `settings.max_waiting` requests wait for a free process;
    more are refused with a 503 and Retry-After, rather than held.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._idle: asyncio.Queue[_Scorer] = asyncio.Queue()
        self._waiting = 0
        self.ready = False

    async def started(self) -> None:
        """Start every process and wait until each has loaded the model and scored once."""
        processes = [_Scorer(self.settings) for _ in range(self.settings.workers)]
        await asyncio.gather(*(p.started() for p in processes))
        for process in processes:
            self._idle.put_nowait(process)
        self.ready = True

    async def run(self, job: Callable[..., Answer], *args: Any) -> Answer:
        """`job(*args)` in the first process free, or a 503 when too many wait already."""
        if self._idle.empty() and self._waiting >= self.settings.max_waiting:
            return Answer.of({"error": f"the service is busy: {self._waiting} requests are "
                                       "waiting; send it again shortly"}, status=503,
                             headers={"Retry-After": "1"})  # fmt: skip
        self._waiting += 1
        try:
            process = await self._idle.get()
        finally:
            self._waiting -= 1
        exchange = asyncio.ensure_future(process.call(job, *args))
        # Back among the idle when its answer is in, whether or not anyone still awaits it.
        exchange.add_done_callback(lambda done: self._back(process, done))
        try:
            return await asyncio.shield(exchange)
        except _ScorerDied:
            return Answer.of({"error": "the scoring process stopped while it held this "
                                       "request; send it again"}, status=503)  # fmt: skip

    def _back(self, process: _Scorer, done: asyncio.Future[Answer]) -> None:
        if done.cancelled() or isinstance(done.exception(), _ScorerDied):
            process.stop()
            process = _Scorer(self.settings)  # (it warms up before reading its first job)
        self._idle.put_nowait(process)

    def close(self) -> None:
        """Stop the processes."""
        while not self._idle.empty():
            self._idle.get_nowait().stop(wait=5.0)


class _ScorerDied(Exception):
    """The scoring process ended (its pipe closed) before it answered."""


class _Scorer:
    """One scoring process and the pipe to it: jobs go in pickled, answers come back, and
    the event loop waits on the pipe itself (no threads hand them over)."""

    def __init__(self, settings: ServiceSettings) -> None:
        # Forked from a server that imported only this module: no threads or OpenMP state
        # of the listening process's to inherit, and quick to start.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["recommender.serving.app"])
        self.pipe, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, settings), daemon=True)
        self.process.start()
        theirs.close()
        self._ready = False

    async def started(self) -> None:
        """Wait until the process is ready (its model loaded); _ScorerDied if it ended."""
        if self._ready:
            return
        await self._readable()
        try:
            self._ready = pickle.loads(self.pipe.recv_bytes()) == ("ready", None)
        except (EOFError, OSError):
            raise _ScorerDied from None

    async def call(self, job: Callable[..., Answer], *args: Any) -> Answer:
        """`job(*args)` in the process; _ScorerDied if it ends first."""
        await self.started()
        try:
            self.pipe.send_bytes(pickle.dumps((job, args)))
        except OSError:
            raise _ScorerDied from None
        return await self.answer()

    async def answer(self) -> Answer:
        """The process's next message: an Answer, or what its job raised, raised here."""
        await self._readable()
        try:
            kind, value = pickle.loads(self.pipe.recv_bytes())
        except (EOFError, OSError):
            raise _ScorerDied from None
        if kind == "raised":
            raise value
        if kind != "answer":
            raise _ScorerDied(f"not an answer: {kind}")  # out of step: start it afresh
        answer: Answer = value
        return answer

    async def _readable(self) -> None:
        """Wait, on the event loop, until the pipe has something to read."""
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        descriptor = self.pipe.fileno()

        def ready() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(descriptor, ready)
        try:
            await readable
        finally:
            loop.remove_reader(descriptor)
            os.set_blocking(descriptor, True)  # (libuv's loop made it non-blocking)

    def stop(self, wait: float = 0.0) -> None:
        """End the process, waiting up to `wait` seconds for it (not at all on the event
        loop: the forkserver, its parent, reaps it)."""
        self.pipe.close()
        self.process.terminate()
        if wait:
            self.process.join(timeout=wait)


def _serve(pipe: Connection, settings: ServiceSettings) -> None:
    """A scoring process: set up, say so, then answer jobs until the pipe closes."""
    _start_scorer(settings)
    pipe.send_bytes(pickle.dumps(("ready", None)))
    while True:
        try:
            job, args = pickle.loads(pipe.recv_bytes())
        except (EOFError, OSError):  # the listening process is gone: so is the work
            return
        try:
            message: tuple[str, object] = ("answer", _timed(job, *args))
        except Exception as exc:  # ModelNotFound and the like: the listener raises it
            message = ("raised", exc)
        pipe.send_bytes(pickle.dumps(message))


# In a scoring process: the service's settings (set once, as the process starts).
_worker_settings: dict[str, ServiceSettings] = {}
WARM_UP_CREATOR = {"creator_id": "warm-up", "platform": "instagram", "followers": 1_000,
                   "avg_likes": 50, "avg_comments": 2, "niche": "warm-up"}  # fmt: skip


def _timed(job: Callable[..., Answer], *args: Any) -> Answer:
    """`job(*args)`, its answer stamped with the seconds it took."""
    started = time.perf_counter()
    answer = job(*args)
    return dataclasses.replace(answer, work_seconds=time.perf_counter() - started)


def _start_scorer(settings: ServiceSettings) -> None:
    """Set a scoring process up: one thread for the trees when the cores are shared with
    other workers, the model loaded, and one creator scored so the first request does
    not pay for loading compiled code."""
    _worker_settings["settings"] = settings
    if settings.workers > 1:
        _trees.use_threads(False)
    try:
        recommender = load_model(settings.model)
    except ModelNotFound:  # gone since the service started: each request says so (a 503)
        return
    score_with_rejects(pd.DataFrame([WARM_UP_CREATOR]), {"campaign_id": "warm-up",
                       "niche": "warm-up"}, recommender)  # fmt: skip


class Guard:
    """ASGI middleware: the API key, and the body's size, time and share of the memory,
    checked before the body is parsed.

    The body is read here, at most `max_body_bytes` of it within `body_timeout_s` of its
    headers, then handed on whole. Until its answer is sent it counts against the bytes
    all requests may hold at once (`buffered_limit`): a request that would pass them is
    refused (503) before more of it is read, its declared length counting from the start.
    """

    def __init__(self, app: ASGIApp, settings: ServiceSettings, api_key: bytes | None) -> None:
        self.app, self.settings, self.api_key = app, settings, api_key
        self.max_body_bytes = settings.max_body_bytes
        self.buffered_bytes = 0  # held by the requests in progress (one event loop: no lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["received_at"] = time.perf_counter()
        headers = dict(scope["headers"])
        guarded = self.api_key is not None and scope["path"] not in OPEN_PATHS
        if guarded and not self._authorized(headers):
            await _refuse(send, 401, "this service needs an API key: send it as "
                          "'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                          [(b"www-authenticate", b"Bearer"), CLOSE])  # fmt: skip
            return
        declared = headers.get(b"content-length", b"0")
        if not declared.isdigit() or len(declared) > 15 or int(declared) > self.max_body_bytes:
            await self._refuse(413, send)
            return
        held = _Held()
        try:
            body = await self._body(receive, held, int(declared))
            if isinstance(body, bytes):
                await self.app(scope, _replay(body, receive), send)
            elif body is not None:
                await self._refuse(body, send)
        finally:
            self.buffered_bytes -= held.size

    def _authorized(self, headers: Mapping[bytes, bytes]) -> bool:
        assert self.api_key is not None
        bearer = headers.get(b"authorization", b"")
        given = bearer[7:].strip() if bearer[:7].lower() == b"bearer " else b""
        given = given or headers.get(b"x-api-key", b"").strip()
        return hmac.compare_digest(given, self.api_key)  # takes as long wherever they differ

    async def _body(self, receive: Receive, held: _Held, declared: int) -> bytes | int | None:
        """The whole body, or the status to refuse it with (408 when it came too slowly),
        or None when the client went away."""
        if not self._hold(held, declared):
            return 503
        body = bytearray()
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None  # nobody to answer
                    body += message.get("body", b"")
                    if len(body) > self.max_body_bytes:
                        return 413
                    if not self._hold(held, len(body)):  # sent in chunks: held as it comes
                        return 503
                    if not message.get("more_body", False):
                        return bytes(body)
        except TimeoutError:
            return 408

    def _hold(self, held: _Held, size: int) -> bool:
        """Hold `size` bytes in all for a request; False when that would pass the limit."""
        more = size - held.size
        if more > 0:
            if self.buffered_bytes + more > self.settings.buffered_limit:
                return False
            self.buffered_bytes += more
            held.size = size
        return True

    async def _refuse(self, status: int, send: Send) -> None:
        """Refuse a body: too large (413), too slow (408), or no room for it (503)."""
        headers = [CLOSE]
        if status == 413:
            limit = f"{self.max_body_bytes / 2**20:.3g} MB"
            error = (f"the body is over the service's limit of {limit}; split the creators, "
                     "or score files with `creator-recommender score`")  # fmt: skip
        elif status == 408:
            error = (f"the body did not arrive within {self.settings.body_timeout_s:g} s of "
                     "the headers; send it again")  # fmt: skip
        else:
            limit = f"{self.settings.buffered_limit / 2**20:.3g} MB"
            error = (f"the service holds as many request bodies as it may ({limit}); "
                     "send it again shortly")  # fmt: skip
            headers.append((b"retry-after", b"1"))
        await _refuse(send, status, error, headers)


@dataclass
class _Held:
    """The bytes of the service's buffer one request holds (given back when it is done)."""

    size: int = 0


# The connection ends with a refusal that leaves the body unread.
CLOSE = (b"connection", b"close")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands over the body already read, then listens as before."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(
    send: Send, status: int, error: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = orjson.dumps({"error": error})
    start = [(b"content-type", b"application/json"),
             (b"content-length", str(len(body)).encode()), *headers]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: any free one) for `serve`, bound before the
    service says where it listens; SettingError, one line, when it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise SettingError(f"cannot listen on {host}: {why}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SettingError(f"port {port} is in use on {host}") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise SettingError(f"{host} is not an address of this machine") from None
        raise SettingError(f"cannot listen on {host} port {port}: {exc.strerror}") from None
    return sock


def serve(app: FastAPI, sock: socket.socket) -> None:
    """Serve `app` on `sock` (from listening_socket) until Ctrl-C or SIGTERM, cutting off
    clients whose headers come later than its settings allow."""
    settings: ServiceSettings = app.state.settings

    class Protocol(_HttpProtocol):
        header_timeout_s = settings.header_timeout_s

    uvicorn.Server(uvicorn.Config(app, http=Protocol, log_level="warning")).run([sock])


class _HttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools) with what it leaves out: a deadline for a
    request's line and headers (from the connection's opening, or the request's first
    byte), a limit on their size, and its refusals of malformed HTTP as {"error": ...}."""

    header_timeout_s = HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._headers_due: asyncio.TimerHandle | None = None
        self._reading_headers = True
        self._header_bytes = 0  # received while reading them (a few of the body's, at most)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """The connection opens: its first request's headers are due."""
        super().connection_made(transport)
        self._expect_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection ends: nothing more is due."""
        self._headers_arrived()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Bytes in: refused once the headers being read pass MAX_HEADER_BYTES (431)."""
        if self._reading_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._reading_headers and self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(431, f"the request line and headers are over the service's limit "
                         f"of {MAX_HEADER_BYTES // 2**10} KB")  # fmt: skip

    def on_message_begin(self) -> None:
        """A request's first byte: its headers are due (if they were not already)."""
        super().on_message_begin()
        if self._headers_due is None:
            self._expect_headers()

    def on_headers_complete(self) -> None:
        """The headers are in: the application reads the body (under its own deadline)."""
        self._headers_arrived()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request is in: what comes next is the next request's headers."""
        super().on_message_complete()
        self._reading_headers, self._header_bytes = True, 0

    def send_400_response(self, msg: str) -> None:
        """Malformed HTTP, answered in the service's shape rather than uvicorn's text."""
        self._refuse(400, "the request is not HTTP the service can read")

    def _expect_headers(self) -> None:
        self._reading_headers = True
        self._headers_due = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _headers_arrived(self) -> None:
        self._reading_headers, self._header_bytes = False, 0
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def _headers_late(self) -> None:
        self._headers_due = None
        if not self._header_bytes:  # an idle connection: nothing to answer
            self.transport.close()
            return
        self._refuse(408, f"the request's headers did not arrive within "
                     f"{self.header_timeout_s:g} s")  # fmt: skip

    def _refuse(self, status: int, error: str) -> None:
        """Answer `status` with the error and close, unless an answer is under way."""
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            body = orjson.dumps({"error": error})
            given = [b"%s: %s" % header for header in self.server_state.default_headers]
            head = [STATUS_LINES[status], *given, b"content-type: application/json",
                    b"content-length: %d" % len(body), b"connection: close"]  # fmt: skip
            self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()


STATUS_LINES = {s: f"HTTP/1.1 {s} {HTTPStatus(s).phrase}".encode() for s in (400, 408, 431)}


async def _no_model(request: Request, exc: ModelNotFound) -> JSONResponse:
    """The model went missing while serving (a folder deleted, a store out of reach)."""
    return JSONResponse(status_code=503, content={"error": str(exc)})


async def _failed(request: Request, exc: Exception) -> JSONResponse:
    """A fault of the service's own, still in the one shape (and logged by the server)."""
    return JSONResponse(status_code=500, content={"error": f"internal error: {type(exc).__name__}"})


async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Validation problems as one {"error": ...} line, like every other refusal; a body that
    is not JSON at all is a 400, as one JSON cannot hold is."""
    errors = exc.errors()
    if errors and errors[0].get("type") == "json_invalid":
        why = (errors[0].get("ctx") or {}).get("error", errors[0].get("msg"))
        return JSONResponse(status_code=400, content={
            "error": f"the body could not be parsed as JSON: {why} "
                     f"(at character {errors[0].get('loc', ('', '?'))[-1]})"})  # fmt: skip
    bodies: dict[str, type[BaseModel]] = {"/score": ScoreRequest, "/plan": PlanRequest}
    body = bodies.get(request.url.path)
    problems = "; ".join(_problem(e, body) for e in errors[:5])
    return JSONResponse(status_code=422, content={"error": problems or "invalid request"})


def _problem(error: Mapping[str, Any], body: type[BaseModel] | None) -> str:
    """One validation problem as people read it: where, then what; an unknown key with the
    known one it most likely misspells."""
    path = [str(part) for part in error.get("loc", ()) if part != "body"]
    where = ".".join(path) or "body"
    if error.get("type") == "too_short" and path == ["creators"]:
        return "no creators in the request"
    if error.get("type") != "extra_forbidden":
        return f"{where}: {error.get('msg')}"
    meant = difflib.get_close_matches(path[-1].lower(), _keys_at(body, path[:-1]), n=1)
    return f"{where}: unknown key" + (f" (did you mean {meant[0]}?)" if meant else "")


def _keys_at(model: type[BaseModel] | None, path: Sequence[str]) -> list[str]:
    """The keys of the object at `path` in a body of `model` ([] when it is not a model)."""
    for name in path:
        field = model.model_fields.get(name) if model is not None else None
        inner = field.annotation if field is not None else None
        model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return list(model.model_fields) if model is not None else []


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own refusals (no such path, a body it cannot parse) in the same shape."""
    error = str(exc.detail)
    if exc.__cause__ is not None:  # why: too deep, a number too long...
        why = str(exc.__cause__).split(";")[0][:200]  # not Python's advice to the server
        error = f"the body could not be parsed as JSON: {why}"
    return JSONResponse(status_code=exc.status_code, content={"error": error},
                        headers=getattr(exc, "headers", None))  # fmt: skip


class _JSONRequest(Request):
    """A request whose JSON body is read by _parsed_json."""

    async def json(self) -> Any:
        """The body as JSON; see _parsed_json for what is refused."""
        if not hasattr(self, "_json"):
            self._json = _parsed_json(await self.body())
        return self._json


class _JSONRoute(APIRoute):
    """A route whose body is read as a _JSONRequest (FastAPI reads it through json())."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, given a _JSONRequest."""
        handler = super().get_route_handler()

        async def read_by_parsed_json(request: Request) -> Response:
            return await handler(_JSONRequest(request.scope, request.receive))

        return read_by_parsed_json


class _RepeatedKey(Exception):
    """A key given twice in one JSON object."""


def _parsed_json(body: bytes) -> Any:
    """The body as Python's json reads it (NaN and Infinity included), refusing what it
    would read wrongly or explain in its own terms: a key given twice in one object (a
    422; Python keeps the last silently) and a whole number too long to read (a 400)."""
    try:
        return json.loads(body, object_pairs_hook=_unique_keys)
    except _RepeatedKey as exc:
        raise HTTPException(422, f"the key {exc} appears twice in one object; "
                            "keep one") from None  # fmt: skip
    except json.JSONDecodeError:  # FastAPI's own 400, with where
        raise
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
        limit = sys.get_int_max_str_digits()
        raise HTTPException(400, "the body could not be parsed as JSON: it holds a whole "
                            f"number of more than {limit:,} digits") from None  # fmt: skip


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    read = dict(pairs)
    if len(read) < len(pairs):  # rare: only then look for which
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(repr(key))
            seen.add(key)
    return read


router = APIRouter(route_class=_JSONRoute)


@router.get("/health", response_model=HealthResponse, responses=_refusals(401, 503))
def health(request: Request) -> Response:
    """Whether the service is up and ready to score, and which model it serves. (A plain
    def: looking the champion up may ask the registry, off the event loop.)"""
    settings: ServiceSettings = request.app.state.settings
    try:
        identity = loaded_model(settings.model)[1]
    except ModelNotFound as exc:
        answer = Answer.of({"status": "no model", "ready": False, "error": str(exc)}, None, 503)
        return answer.response()
    ready = request.app.state.scorers.ready
    said = {"status": "ok" if ready else "starting", "ready": ready, "model": identity.as_dict()}
    return Answer.of(said, identity, 200 if ready else 503).response()


@router.post("/score", response_model=ScoreResponse, responses=_refusals(400, 401, 413, 422, 503))
async def score(body: ScoreRequest, request: Request) -> Response:
    """Score the creators for the campaign: the scored columns, rejects with reasons."""
    scorers: Scorers = request.app.state.scorers
    refused = _unwritable(body.campaign, body.creators) or _misspelt_campaign_key(body.campaign)
    return (refused or await scorers.run(_score, body)).response(request)


@router.post("/plan", response_model=PlanResponse, responses=_refusals(400, 401, 413, 422, 503))
async def plan_budget(body: PlanRequest, request: Request) -> Response:
    """Choose creators within the budget, as recommender.plan does."""
    scorers: Scorers = request.app.state.scorers
    refused = _unwritable(body.campaign, body.creators) or _misspelt_campaign_key(body.campaign)
    return (refused or await scorers.run(_plan, body)).response(request)


def _unwritable(*parts: object) -> Answer | None:
    """A 400 for what Python's JSON reads but no answer could carry back (as rejected rows
    or echoed keys): text with a lone surrogate, a whole number beyond 64 bits, nesting
    over 254 deep. One pass of orjson over the parsed body finds them all."""
    try:
        orjson.dumps(parts)
    except orjson.JSONEncodeError as exc:
        return Answer.of({"error": f"the body holds what JSON answers cannot: {exc}"}, status=400)
    return None


def _misspelt_campaign_key(campaign: Mapping[str, Any]) -> Answer | None:
    """A 422 for a campaign key that nearly spells a campaigns column the campaign lacks
    (`target_county`): scored without it, the campaign would quietly lose what was meant
    (a country, a platform). Any other key of the campaign's own passes, as the contract
    keeps unknown columns, so a client may send its campaign record as it stores it."""
    if _CAMPAIGN_KEYS.issuperset(campaign):
        return None
    typo = contract.misspelt_column(campaign, "campaigns", contract.CAMPAIGNS.names)
    if typo is None:
        return None
    said = contract.misspelt_text("campaigns", typo[1])
    return Answer.of({"error": f"campaign.{typo[0]}: {said}"}, status=422)


def _score(body: ScoreRequest) -> Answer:
    """POST /score, in a scoring process."""
    settings = _worker_settings["settings"]
    creators = _creators_frame(body.creators, settings, body.echo_extras, "score")
    if isinstance(creators, Answer):
        return creators
    recommender, identity = loaded_model(settings.model)  # gone missing: ModelNotFound, a 503
    try:
        result = score_with_rejects(creators, body.campaign, recommender, body.top)
    except ScoringError as exc:
        return Answer.of({"error": str(exc)}, identity, status=422)
    return Answer.of({
        "scored": _records(result.scored),
        "rejected": _records(result.rejects),
        "counts": {"scored": len(result.scored), "rejected": len(result.rejects)},
        "model": identity.as_dict(),
    }, identity)  # fmt: skip


def _plan(body: PlanRequest) -> Answer:
    """POST /plan, in a scoring process."""
    settings = _worker_settings["settings"]
    creators = _creators_frame(body.creators, settings, body.echo_extras, "plan")
    if isinstance(creators, Answer):
        return creators
    limits = body.constraints.model_dump()
    limits["excluded_flags"] = tuple(limits["excluded_flags"])
    try:  # by reference, so that the plan's summary names the model that scored it
        result = plan(creators, body.campaign, body.budget_usd, settings.model, body.explore,
                      Constraints(**limits))  # fmt: skip
    except ModelNotFound:  # (a ScoringError too) gone missing: a 503, not the request's fault
        raise
    except (ScoringError, SettingError) as exc:
        return Answer.of({"error": str(exc)}, status=422)
    return Answer.of({
        "chosen": _records(result.chosen),
        "summary": result.summary,
        "rejected": _records(result.rejects),
    }, ModelIdentity(**result.summary["model"]))  # fmt: skip


def _creators_frame(
    creators: list[dict[str, Any]], settings: ServiceSettings, echo_extras: bool, command: str
) -> pd.DataFrame | Answer:
    """The creators as a frame; their keys outside the contract counted, and left out
    unless they are to be echoed. A 413 for too many creators or extra keys."""
    if len(creators) > MAX_CREATORS:
        return Answer.of({"error": f"at most {MAX_CREATORS:,} creators per request; "
                                   f"use creator-recommender {command}"}, status=413)  # fmt: skip
    keys = list(dict.fromkeys(key for row in creators for key in row))
    extra: set[str] = set()
    if not _CONTRACT_KEYS.issuperset(keys):  # headers as exports write them read as the contract's
        try:
            names = read_names(keys)
        except ContractError as exc:  # two keys that mean one column
            return Answer.of({"error": str(exc)}, status=422)
        extra = {k for k, name in zip(keys, names, strict=True) if name not in _CONTRACT_KEYS}
    if len(extra) > settings.max_extra_keys:
        return Answer.of({"error": f"at most {settings.max_extra_keys} distinct keys outside "
                                   f"the creators contract per request (got {len(extra):,})"},
                         status=413)  # fmt: skip
    if extra and not echo_extras:
        creators = [{k: v for k, v in row.items() if k not in extra} for row in creators]
    return pd.DataFrame(creators, dtype=object)  # as given: 1 stays 1, not 1.0 beside a 2.5


def _plain(value: object) -> object:
    """What orjson does not write itself: numpy and pandas scalars, missing values."""
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain values, from one conversion of the whole frame (pandas' own
    to_dict is ten times slower); missing values are NaN, None or pd.NA, which _plain and
    orjson write as null, as they do infinities."""
    names = [str(c) for c in frame.columns]
    return [dict(zip(names, row, strict=True)) for row in frame.to_numpy(dtype=object).tolist()]
