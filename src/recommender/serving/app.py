"""The app: routes, error handlers and the server (FastAPI on uvicorn, with a protocol
that also times a request's headers). A request is read and checked here, by the
Guard and the request models, then handed to the first scoring process free: one of
the pool of model-holding processes (engines._pool), which answers it with the
protocol's functions.
"""

from __future__ import annotations

import asyncio
import difflib
import errno
import json
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

import orjson
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from recommender import __version__
from recommender.engines import _forkserver
from recommender.engines._pool import ModelWorkers, WorkerDied, WorkersBusy
from recommender.errors import ModelNotFound, SettingError
from recommender.mlops.model_store import load_model, loaded_model
from recommender.serving import protocol
from recommender.serving.guard import Guard
from recommender.serving.protocol import Answer
from recommender.serving.requests import (
    ErrorResponse,
    HealthResponse,
    PlanRequest,
    PlanResponse,
    ScoreRequest,
    ScoreResponse,
)
from recommender.serving.settings import HEADER_TIMEOUT_S, MAX_HEADER_BYTES, ServiceSettings


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
        app.state.workers = workers = _scoring_processes(settings)
        try:
            await asyncio.to_thread(workers.wait_ready)
            yield
        finally:
            workers.close()

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


def _scoring_processes(settings: ServiceSettings) -> ModelWorkers:
    """`settings.workers` processes, started, each holding the model and following it
    (a promotion reaches the next request), one request at a time, at most
    `settings.max_waiting` requests waiting for one. Forked from a server that imported
    what they run: none of the listening process's threads, and quick to start."""
    context = _forkserver.context(also=["recommender.serving.protocol"])
    workers = ModelWorkers(settings.model, settings.workers, context, follow=True,
                           warm_up=protocol.warm_up, max_waiting=settings.max_waiting)  # fmt: skip
    return workers.start()


async def _answered(request: Request, handler: Callable[..., Answer], body: BaseModel) -> Answer:
    """handler(recommender, identity, body, settings) in the first scoring process free,
    or a 503: too many requests wait already, or the process stopped while it held this
    one (a new one takes its place). What the handler raised is raised here."""
    workers: ModelWorkers = request.app.state.workers
    try:
        job = workers.submit(handler, body, request.app.state.settings)
    except WorkersBusy as busy:
        return Answer.of({"error": f"the service is busy: {busy.waiting} requests are "
                                   "waiting; send it again shortly"}, status=503,
                         headers={"Retry-After": "1"})  # fmt: skip
    try:
        return await asyncio.wrap_future(job)
    except WorkerDied:
        return Answer.of({"error": "the scoring process stopped while it held this "
                                   "request; send it again"}, status=503)  # fmt: skip


def _response(answer: Answer, request: Request | None = None) -> Response:
    """The HTTP answer, naming the model in its headers when one made it, and where the
    time went (Server-Timing: the scoring process's work, and the whole request's from
    its first byte, which adds reading, checking and handing it over)."""
    headers = dict(answer.headers)
    if answer.identity is not None:
        headers["X-Model-Version"] = answer.identity.version or "unregistered"
        headers["X-Model-Run"] = answer.identity.run_id or "unknown"
    received = request.scope.get("received_at") if request is not None else None
    if received is not None:
        total_ms = (time.perf_counter() - received) * 1000
        work_ms = answer.work_seconds * 1000
        headers["Server-Timing"] = f"score;dur={work_ms:.2f}, total;dur={total_ms:.2f}"
    return Response(answer.body, answer.status, headers, media_type="application/json")


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
        return _response(answer)
    ready = request.app.state.workers.ready
    said = {"status": "ok" if ready else "starting", "ready": ready, "model": identity.as_dict()}
    return _response(Answer.of(said, identity, 200 if ready else 503))


@router.post("/score", response_model=ScoreResponse, responses=_refusals(400, 401, 413, 422, 503))
async def score(body: ScoreRequest, request: Request) -> Response:
    """Score the creators for the campaign: the scored columns, rejects with reasons."""
    refused = protocol.refusal(body, "score")
    return _response(refused or await _answered(request, protocol.score_answer, body), request)


@router.post("/plan", response_model=PlanResponse, responses=_refusals(400, 401, 413, 422, 503))
async def plan_budget(body: PlanRequest, request: Request) -> Response:
    """Choose creators within the budget, as recommender.plan does."""
    refused = protocol.refusal(body, "plan")
    return _response(refused or await _answered(request, protocol.plan_answer, body), request)
