"""The service's request and answer bodies, as pydantic models (the OpenAPI document's
schemas): strict, and refusing a key they do not have."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.config import JsonDict

from recommender import contract
from recommender.scoring.planning import EXCLUDED_FLAGS

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
    seed: int | None = Field(
        default=None, ge=0, description="exploration's draws (default: from the candidates)"
    )
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
