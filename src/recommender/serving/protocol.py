"""The service's protocol as plain functions: a request body and a fitted model in, an
Answer (status, JSON body, the model that made it) out. No HTTP server, no processes:
the app calls `refusal` as a request comes in, and a scoring process `score_answer`
or `plan_answer` with the model it holds.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec

import numpy as np
import orjson
import pandas as pd

from recommender import contract
from recommender.errors import ContractError, ScoringError, SettingError
from recommender.scoring import read_names, score_with_rejects
from recommender.scoring.planning import Constraints, plan
from recommender.serving.requests import PlanRequest, ScoreRequest
from recommender.serving.settings import ServiceSettings

if TYPE_CHECKING:
    from recommender.mlops.model_store import ModelIdentity
    from recommender.modeling.estimator import Recommender

MAX_CREATORS = 100_000
_CONTRACT_KEYS = frozenset([*contract.CREATORS.names, "campaign_id"])
# A campaign's keys the contract reads: its columns, and the other columns exports carry.
_CAMPAIGN_KEYS = frozenset([*contract.CAMPAIGNS.names, *contract.HEADER_SYNONYMS["campaigns"]])
WARM_UP_CREATOR = {"creator_id": "warm-up", "platform": "instagram", "followers": 1_000,
                   "avg_likes": 50, "avg_comments": 2, "niche": "warm-up"}  # fmt: skip
Handler = ParamSpec("Handler")


@dataclass(frozen=True)
class Answer:
    """An answer to a request: the status, the JSON body, the model that made it (None
    when none did), the seconds a scoring process worked on it, and headers of its own."""

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


def refusal(body: ScoreRequest | PlanRequest, command: str) -> Answer | None:
    """The answer to a request refused before it is scored (None when it is not): one
    that JSON answers could not carry back (400), a campaign key one typo from a column
    (422), more than MAX_CREATORS creators (413, naming the `command` for files)."""
    refused = _unwritable(body.campaign, body.creators) or _misspelt_campaign_key(body.campaign)
    if refused is None and len(body.creators) > MAX_CREATORS:
        return Answer.of({"error": f"at most {MAX_CREATORS:,} creators per request; "
                                   f"use creator-recommender {command}"}, status=413)  # fmt: skip
    return refused


def _timed(handler: Callable[Handler, Answer]) -> Callable[Handler, Answer]:
    """`handler`, its answer stamped with the seconds it took."""

    @functools.wraps(handler)
    def timed(*args: Handler.args, **kwargs: Handler.kwargs) -> Answer:
        started = time.perf_counter()
        answer = handler(*args, **kwargs)
        return dataclasses.replace(answer, work_seconds=time.perf_counter() - started)

    return timed


@_timed
def score_answer(
    recommender: Recommender, identity: ModelIdentity, body: ScoreRequest, settings: ServiceSettings
) -> Answer:
    """POST /score's answer, by `recommender` (`identity` says which model it is): the
    scored rows, the rejected rows with reasons and their counts; a 413 or 422 for
    creators the service refuses, a 422 for a request nothing of which can be scored."""
    creators = _creators_frame(body.creators, settings, body.echo_extras)
    if isinstance(creators, Answer):
        return creators
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


@_timed
def plan_answer(
    recommender: Recommender, identity: ModelIdentity, body: PlanRequest, settings: ServiceSettings
) -> Answer:
    """POST /plan's answer, by `recommender` (`identity` says which model it is): the
    chosen creators, the plan's summary (naming the model last), the rejected rows; a
    413 or 422 for creators the service refuses, a 422 for a plan no one can make."""
    creators = _creators_frame(body.creators, settings, body.echo_extras)
    if isinstance(creators, Answer):
        return creators
    limits = body.constraints.model_dump()
    limits["excluded_flags"] = tuple(limits["excluded_flags"])
    try:
        result = plan(creators, body.campaign, body.budget_usd, recommender, body.explore,
                      Constraints(**limits), body.seed)  # fmt: skip
    except (ScoringError, SettingError) as exc:
        return Answer.of({"error": str(exc)}, status=422)
    result.summary["model"] = identity.as_dict()
    return Answer.of({
        "chosen": _records(result.chosen),
        "summary": result.summary,
        "rejected": _records(result.rejects),
    }, identity)  # fmt: skip


def warm_up(recommender: Recommender, identity: ModelIdentity) -> None:
    """Score one creator, so that the first request pays for no compiled code."""
    score_with_rejects(pd.DataFrame([WARM_UP_CREATOR]), {"campaign_id": "warm-up",
                       "niche": "warm-up"}, recommender)  # fmt: skip


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


def _creators_frame(
    creators: list[dict[str, Any]], settings: ServiceSettings, echo_extras: bool
) -> pd.DataFrame | Answer:
    """The creators as a frame; their keys outside the contract counted, and left out
    unless they are to be echoed. A 413 for too many extra keys, a 422 for two keys that
    mean one column."""
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
    """Rows as dicts of plain values, from one conversion of the whole frame; missing
    values are NaN, None or pd.NA, which _plain and orjson write as null, as they do
    infinities."""
    names = [str(c) for c in frame.columns]
    return [dict(zip(names, row, strict=True)) for row in frame.to_numpy(dtype=object).tolist()]
