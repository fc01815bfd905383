"""The service's protocol called as plain functions: a request body and a fitted model in,
an Answer out. No server, no processes (the HTTP tests run the same through the app)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import CAMPAIGN

from recommender.mlops.model_store import ModelIdentity
from recommender.scoring import score_with_rejects
from recommender.scoring.planning import Constraints, plan
from recommender.serving import (
    PlanRequest,
    ScoreRequest,
    ServiceSettings,
    plan_answer,
    refusal,
    score_answer,
)
from recommender.serving.protocol import MAX_CREATORS

IDENTITY = ModelIdentity("models/champion", "7", "run-1", 6, "2026-01-01T00:00:00+00:00")
SETTINGS = ServiceSettings(workers=1, max_extra_keys=2)


def creators_json(market, n: int) -> list[dict[str, object]]:
    frame = market.creators.head(n).astype(object)
    return frame.where(frame.notna(), None).to_dict(orient="records")


def payload(answer) -> dict:
    return json.loads(answer.body)


def test_score_answers_with_the_librarys_scores_and_names_the_model(model, market):
    rows = creators_json(market, 12)
    rows[3]["followers"] = -3
    answer = score_answer(model, IDENTITY, ScoreRequest(campaign=CAMPAIGN, creators=rows),
                          SETTINGS)  # fmt: skip
    said = payload(answer)
    assert answer.status == 200 and answer.identity == IDENTITY and answer.work_seconds > 0
    assert said["counts"] == {"scored": 11, "rejected": 1}
    assert said["model"] == IDENTITY.as_dict()
    library = score_with_rejects(pd.DataFrame(rows, dtype=object), CAMPAIGN, model)
    assert [r["creator_id"] for r in said["scored"]] == library.scored["creator_id"].tolist()
    assert [r["score"] for r in said["scored"]] == pytest.approx(library.scored["score"].tolist())
    assert said["rejected"][0]["reject_reason"] == "followers: must be >= 0 (got '-3')"


def test_top_keeps_the_best(model, market):
    body = ScoreRequest(campaign=CAMPAIGN, creators=creators_json(market, 12), top=3)
    said = payload(score_answer(model, IDENTITY, body, SETTINGS))
    assert [r["rank"] for r in said["scored"]] == [1, 2, 3]


def test_extra_keys_are_echoed_only_when_asked_and_capped(model, market):
    rows = creators_json(market, 3)
    rows[0]["note"], rows[1]["tag"] = "first", "second"
    plain = payload(score_answer(model, IDENTITY, ScoreRequest(campaign=CAMPAIGN, creators=rows),
                                 SETTINGS))  # fmt: skip
    assert not any("note" in r or "tag" in r for r in plain["scored"])
    body = ScoreRequest(campaign=CAMPAIGN, creators=rows, echo_extras=True)
    echoed = payload(score_answer(model, IDENTITY, body, SETTINGS))
    assert {r["creator_id"]: r.get("note") for r in echoed["scored"]}[rows[0]["creator_id"]] == (
        "first"
    )
    rows[2]["third"] = "one too many"
    refused = score_answer(model, IDENTITY, ScoreRequest(campaign=CAMPAIGN, creators=rows),
                           SETTINGS)  # fmt: skip
    assert refused.status == 413 and refused.identity is None
    assert "at most 2 distinct keys" in payload(refused)["error"]


def test_nothing_to_score_is_a_422_naming_the_model(model):
    body = ScoreRequest(campaign={"campaign_id": "k", "niche": "pet"}, creators=[{"x": 1}])
    answer = score_answer(model, IDENTITY, body, SETTINGS)
    assert answer.status == 422 and answer.identity == IDENTITY
    assert "missing required creators" in payload(answer)["error"]


def test_plan_answers_with_the_librarys_plan_and_names_the_model_last(model, market):
    rows = creators_json(market, 200)
    body = PlanRequest(campaign=CAMPAIGN, creators=rows, budget_usd=2_000, explore=0.1,
                       constraints={"max_niche_share": 0.6, "excluded_flags": []})  # fmt: skip
    answer = plan_answer(model, IDENTITY, body, SETTINGS)
    said = payload(answer)
    assert answer.status == 200 and answer.identity == IDENTITY
    library = plan(pd.DataFrame(rows, dtype=object), CAMPAIGN, 2_000, model, 0.1,
                   Constraints(max_niche_share=0.6, excluded_flags=()))  # fmt: skip
    assert [r["creator_id"] for r in said["chosen"]] == library.chosen["creator_id"].tolist()
    assert list(said["summary"]) == [*library.summary, "model"]
    assert said["summary"]["model"] == IDENTITY.as_dict()


def test_a_plan_no_one_can_make_is_a_422(model, market):
    body = PlanRequest(campaign=CAMPAIGN, creators=creators_json(market, 5), budget_usd=500,
                       constraints={"min_followers": 9_000, "max_followers": 10})  # fmt: skip
    answer = plan_answer(model, IDENTITY, body, SETTINGS)
    assert answer.status == 422 and "above max_followers" in payload(answer)["error"]


def test_a_request_fit_to_score_is_not_refused(market):
    body = ScoreRequest(campaign=CAMPAIGN, creators=creators_json(market, 3))
    assert refusal(body, "score") is None


@pytest.mark.parametrize(
    ("campaign", "creators", "status", "says"),
    [({"campaign_id": "k", "niche": "pet", "target_county": "US"}, [{"creator_id": "a"}], 422,
      "campaign.target_county: not a campaigns column (did you mean target_country?"),
     (CAMPAIGN, [{"creator_id": "a", "note": "\ud800"}], 400, "JSON answers cannot"),
     (CAMPAIGN, [{"creator_id": "a"}] * (MAX_CREATORS + 1), 413,
      f"at most {MAX_CREATORS:,} creators per request; use creator-recommender plan")],
)  # fmt: skip
def test_requests_refused_before_scoring(campaign, creators, status, says):
    body = PlanRequest(campaign=campaign, creators=creators, budget_usd=100)
    answer = refusal(body, "plan")
    assert answer is not None and answer.status == status and answer.identity is None
    assert says in payload(answer)["error"]
