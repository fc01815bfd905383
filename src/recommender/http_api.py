"""The scoring service over HTTP: JSON in, JSON out (FastAPI; OpenAPI at /docs and /openapi.json).

    POST /score  {"campaign": {...}, "creators": [{...}, ...], "top": 10}
                 -> {"scored": [...], "rejected": [...], "counts": {...}}
    POST /plan   {"campaign": {...}, "creators": [...], "budget_usd": 3000, "explore": 0.2,
                  "constraints": {"max_niche_share": 0.5, ...}}
                 -> {"chosen": [...], "summary": {...}, "rejected": [...]}
    GET  /health -> {"status": "ok", "ready": true, "model": {"version": ..., "run_id": ...}}

Every answer names the model that made it: the X-Model-Version and X-Model-Run
headers, and the `model` field of /score (and of /plan's summary). With no model
given, the service serves the champion and follows it: a promotion is picked up
by the next request (a champion folder) or within model_store.ALIAS_SECONDS (the
registry's @champion), with no restart.

Bad requests (malformed JSON, no campaign, creators not a list, no valid
campaign, a missing required column) get a 4xx with {"error": "..."}, never a 500.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recommender import __version__
from recommender.errors import ModelNotFound, ScoringError, SettingError
from recommender.model_store import ModelIdentity, load_model, loaded_model
from recommender.modeling.recommender import Recommender
from recommender.planning import EXCLUDED_FLAGS, Constraints, plan
from recommender.scoring import ModelRef, score_with_rejects

MAX_CREATORS = 100_000

router = APIRouter()


class ScoreRequest(BaseModel):
    """POST /score's body."""

    campaign: dict[str, Any] = Field(description="one campaign, in the campaigns contract")
    creators: list[dict[str, Any]] = Field(
        description="candidate creators, in the creators contract"
    )
    top: int | None = Field(default=None, ge=1, description="keep the best `top` per campaign")


class ScoreResponse(BaseModel):
    """POST /score's answer: scored rows, rejected rows with reasons, and their counts."""

    scored: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    counts: dict[str, int]
    model: dict[str, Any] = Field(description="the model that scored: version, run, format")


class PlanConstraints(BaseModel):
    """recommender.planning.Constraints, which checks the values (a 422 when it refuses)."""

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
    """POST /plan's body."""

    campaign: dict[str, Any] = Field(description="one campaign, in the campaigns contract")
    creators: list[dict[str, Any]] = Field(description="candidates, in the creators contract")
    budget_usd: float = Field(gt=0, allow_inf_nan=False)
    explore: float = Field(default=0.0, ge=0, lt=1, description="budget share for learning")
    constraints: PlanConstraints = Field(default_factory=PlanConstraints)


class PlanResponse(BaseModel):
    """POST /plan's answer: the chosen creators, the plan's summary, and rejected rows."""

    chosen: list[dict[str, Any]]
    summary: dict[str, Any]
    rejected: list[dict[str, Any]]


def create_app(model: ModelRef = None) -> FastAPI:
    """The app; the model loads at start so a missing model fails before serving, and again
    (from cache unless it changed) for each request."""
    app = FastAPI(
        title="creator-recommender",
        description="Rank creators for a campaign: fit, expected sales lift with an interval, "
        "return per dollar, flags and reasons.",
        version=__version__,
    )
    load_model(model)
    app.state.model = model
    app.add_exception_handler(RequestValidationError, _bad_request)  # type: ignore[arg-type]
    app.add_exception_handler(ModelNotFound, _no_model)  # type: ignore[arg-type]
    app.middleware("http")(_name_the_model)
    app.include_router(router)
    return app


async def _name_the_model(request: Request, call_next: Any) -> Any:
    """Every answer that used a model names it (the endpoint leaves it in request.state)."""
    response = await call_next(request)
    identity = getattr(request.state, "model", None)
    if identity is not None:
        response.headers["X-Model-Version"] = identity.version or "unregistered"
        response.headers["X-Model-Run"] = identity.run_id or "unknown"
    return response


def _serving(request: Request) -> Recommender:
    """The model serving now (the champion followed, unless one was given), its identity
    kept for the answer. ModelNotFound (a 503) when it went missing."""
    recommender, request.state.model = loaded_model(request.app.state.model)
    return recommender


async def _no_model(request: Request, exc: ModelNotFound) -> JSONResponse:
    """The model went missing while serving (a folder deleted, a store out of reach)."""
    return JSONResponse(status_code=503, content={"error": str(exc)})


async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Validation problems as one {"error": ...} line, like every other refusal."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
        for e in exc.errors()[:5]
    )
    return JSONResponse(status_code=422, content={"error": problems or "invalid request"})


@router.get("/health")
def health(request: Request) -> Any:
    """Whether the service is up and ready to score, and which model it serves."""
    try:
        _serving(request)
    except ModelNotFound as exc:
        return JSONResponse(
            status_code=503, content={"status": "no model", "ready": False, "error": str(exc)}
        )
    return {"status": "ok", "ready": True, "model": request.state.model.as_dict()}


@router.post("/score", response_model=ScoreResponse)
def score(body: ScoreRequest, request: Request) -> Any:
    """Score the creators for the campaign: the scored columns, rejects with reasons."""
    if refused := _too_many(body.creators, "creator-recommender score"):
        return refused
    creators = pd.DataFrame(body.creators).astype(object)
    recommender = _serving(request)  # gone missing: a 503 (_no_model), not the request's fault
    try:
        result = score_with_rejects(creators, body.campaign, recommender, body.top)
    except ScoringError as exc:
        return JSONResponse(status_code=422, content={"error": str(exc)})
    return {
        "scored": _records(result.scored),
        "rejected": _records(result.rejects),
        "counts": {"scored": len(result.scored), "rejected": len(result.rejects)},
        "model": request.state.model.as_dict(),
    }


@router.post("/plan", response_model=PlanResponse)
def plan_budget(body: PlanRequest, request: Request) -> Any:
    """Choose creators within the budget, as recommender.plan does."""
    if refused := _too_many(body.creators, "creator-recommender plan"):
        return refused
    creators = pd.DataFrame(body.creators).astype(object)
    limits = body.constraints.model_dump()
    limits["excluded_flags"] = tuple(limits["excluded_flags"])
    try:  # by reference, so that the plan's summary names the model that scored it
        result = plan(creators, body.campaign, body.budget_usd, request.app.state.model,
                      body.explore, Constraints(**limits))  # fmt: skip
    except ModelNotFound:  # gone missing: a 503 (_no_model), not the request's fault
        raise
    except (ScoringError, SettingError) as exc:
        return JSONResponse(status_code=422, content={"error": str(exc)})
    request.state.model = ModelIdentity(**result.summary["model"])
    return {
        "chosen": _records(result.chosen),
        "summary": result.summary,
        "rejected": _records(result.rejects),
    }


def _too_many(creators: list[dict[str, Any]], command: str) -> JSONResponse | None:
    if len(creators) <= MAX_CREATORS:
        return None
    return JSONResponse(
        status_code=413,
        content={"error": f"at most {MAX_CREATORS:,} creators per request; use {command}"},
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts: NaN/NA become null, numpy scalars plain numbers."""
    out = []
    for row in frame.astype(object).to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if (
                value is None
                or value is pd.NA
                or (isinstance(value, float) and not math.isfinite(value))
            ):
                clean[str(key)] = None
            elif isinstance(value, np.generic):
                clean[str(key)] = value.item()
            else:
                clean[str(key)] = value
        out.append(clean)
    return out
