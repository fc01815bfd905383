"""How the service runs: its model, its API key, its bounds and its scoring processes."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from recommender import config
from recommender.errors import SettingError

MAX_BODY_BYTES = 8 * 2**20  # about 30,000 creators of the contract's columns
MAX_EXTRA_KEYS = 50
MAX_WAITING = 64  # requests waiting for a scoring process: more get a 503 and Retry-After
HEADER_TIMEOUT_S = 10.0  # from a connection's first byte (or its opening) to its headers' end
BODY_TIMEOUT_S = 60.0  # from the headers' end to the body's: 8 MB at about 1 Mbit/s
BUFFERED_BODIES = 8  # bodies of the largest size held at once, by default
MAX_HEADER_BYTES = 64 * 2**10  # the request line and headers: clients send a few KB
API_KEY_ENV = "CREATOR_RECOMMENDER_API_KEY"


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
