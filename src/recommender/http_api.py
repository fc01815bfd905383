"""The scoring service over HTTP: JSON in, JSON out (FastAPI; OpenAPI at /docs and /openapi.json).

    POST /score  {"campaign": {...}, "creators": [{...}, ...], "top": 10}
                 -> {"scored": [...], "rejected": [...], "counts": {...}}
    POST /plan   {"campaign": {...}, "creators": [...], "budget_usd": 3000, "explore": 0.2,
                  "constraints": {"max_niche_share": 0.5, ...}}
                 -> {"chosen": [...], "summary": {...}, "rejected": [...]}
    GET  /health -> {"status": "ok", "model": "..."}

Bad requests (malformed JSON, no campaign, creators not a list, no valid
campaign, a missing required column) get a 4xx with {"error": "..."}, never a 500.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recommender.planning import EXCLUDED_FLAGS, Constraints, plan
from recommender.scoring import ScoringError, load_model, score_with_rejects

MAX_CREATORS = 100_000


class ScoreRequest(BaseModel):
    campaign: dict[str, Any] = Field(description="one campaign, in the campaigns contract")
    creators: list[dict[str, Any]] = Field(
        description="candidate creators, in the creators contract"
    )
    top: int | None = Field(default=None, ge=1, description="keep the best `top` per campaign")


class ScoreResponse(BaseModel):
    scored: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    counts: dict[str, int]


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
    campaign: dict[str, Any] = Field(description="one campaign, in the campaigns contract")
    creators: list[dict[str, Any]] = Field(description="candidates, in the creators contract")
    budget_usd: float = Field(gt=0, allow_inf_nan=False)
    explore: float = Field(default=0.0, ge=0, lt=1, description="budget share for learning")
    constraints: PlanConstraints = Field(default_factory=PlanConstraints)


class PlanResponse(BaseModel):
    chosen: list[dict[str, Any]]
    summary: dict[str, Any]
    rejected: list[dict[str, Any]]


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


def create_app(model: str | None = None) -> FastAPI:
    """The app; the model loads at start so a missing model fails before serving."""
    recommender = load_model(model)
    app = FastAPI(
        title="creator-recommender",
        description="Rank creators for a campaign: fit, expected sales lift with an interval, "
        "return per dollar, flags and reasons.",
        version="0.1.0",
    )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
            for e in exc.errors()[:5]
        )
        return JSONResponse(status_code=422, content={"error": problems or "invalid request"})

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": str(recommender.metadata.get("lift_loss", ""))}

    def too_many(creators: list[dict[str, Any]], command: str) -> JSONResponse | None:
        if len(creators) <= MAX_CREATORS:
            return None
        return JSONResponse(
            status_code=413,
            content={"error": f"at most {MAX_CREATORS:,} creators per request; use {command}"},
        )

    @app.post("/score", response_model=ScoreResponse)
    def score(body: ScoreRequest) -> Any:
        if refused := too_many(body.creators, "serve.py score"):
            return refused
        creators = pd.DataFrame(body.creators).astype(object)
        try:
            result = score_with_rejects(creators, body.campaign, recommender, body.top)
        except ScoringError as exc:
            return JSONResponse(status_code=422, content={"error": str(exc)})
        return {
            "scored": _records(result.scored),
            "rejected": _records(result.rejects),
            "counts": {"scored": len(result.scored), "rejected": len(result.rejects)},
        }

    @app.post("/plan", response_model=PlanResponse)
    def plan_budget(body: PlanRequest) -> Any:
        if refused := too_many(body.creators, "serve.py plan"):
            return refused
        creators = pd.DataFrame(body.creators).astype(object)
        limits = body.constraints.model_dump()
        limits["excluded_flags"] = tuple(limits["excluded_flags"])
        try:
            result = plan(creators, body.campaign, body.budget_usd, recommender, body.explore,
                          Constraints(**limits))  # fmt: skip
        except (ScoringError, ValueError) as exc:
            return JSONResponse(status_code=422, content={"error": str(exc)})
        return {
            "chosen": _records(result.chosen),
            "summary": result.summary,
            "rejected": _records(result.rejects),
        }

    return app


def openapi_json(model: str | None = None) -> str:
    return json.dumps(create_app(model).openapi(), indent=2)
