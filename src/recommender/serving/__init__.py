"""The HTTP service: POST /score and /plan over a pool of model processes, GET /health.

    from recommender.serving import ServiceSettings, create_app

JSON in, JSON out (FastAPI; OpenAPI at /docs and /openapi.json):

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
The scoring processes are the pool the batch engine uses too (engines._pool).

Where things are: `settings` (ServiceSettings), `requests` (the request and answer
models), `protocol` (a body and a model in, an Answer out: plain functions), `guard`
(the API key and the body's bounds), `app` (routes, error handlers, the server).
"""

from __future__ import annotations

from recommender.serving.app import create_app, listening_socket, serve
from recommender.serving.protocol import Answer, plan_answer, refusal, score_answer
from recommender.serving.requests import (
    PlanConstraints,
    PlanRequest,
    PlanResponse,
    ScoreRequest,
    ScoreResponse,
)
from recommender.serving.settings import API_KEY_ENV, ServiceSettings

__all__ = [
    "API_KEY_ENV",
    "Answer",
    "PlanConstraints",
    "PlanRequest",
    "PlanResponse",
    "ScoreRequest",
    "ScoreResponse",
    "ServiceSettings",
    "create_app",
    "listening_socket",
    "plan_answer",
    "refusal",
    "score_answer",
    "serve",
]
