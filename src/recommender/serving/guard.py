"""The guard before the app: the API key, and each request body's size, time and share
of the memory, checked before the body is parsed (ASGI middleware)."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recommender.serving.settings import ServiceSettings

# Readable without the API key: the service's description, nothing it serves.
OPEN_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


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
