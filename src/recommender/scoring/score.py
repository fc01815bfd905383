"""Score creators for campaigns with a fitted model: the library function behind the CLI,
HTTP, the engines and planning.

    scored = score(creators, campaign, recommender)            # a DataFrame, ranked
    result = score_with_rejects(creators, campaign, recommender)  # ... and the rejects

`campaign` is one campaign (a dict of the campaigns contract), or a campaigns
DataFrame. If `creators` has a campaign_id column, each row is scored for its
own campaign; otherwise every creator is scored for every campaign. Every input
row ends scored or rejected with a reason. Models are resolved (a path, an MLflow
URI, the champion) by recommender.api, not here.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender import contract
from recommender.contract import CAMPAIGN_PREFIX
from recommender.errors import ContractError, RejectedRowsWarning, ScoringError, SettingError
from recommender.scoring._arrays import rounded_columns
from recommender.scoring.rank import empty_scored, rank

# The models' and features' libraries (scikit-learn, SciPy, LightGBM, numba) load where a
# model is used: a batch job's main process validates and ranks without them.
if TYPE_CHECKING:
    from recommender.modeling.estimator import Recommender

OUTPUT_DECIMALS = {
    "score": 6, "fit_score": 4, "expected_roi": 6, "expected_lift_usd": 2, "lift_low_usd": 2,
    "lift_high_usd": 2, "cost_usd": 2,
}  # fmt: skip

CampaignInput = Mapping[str, Any] | pd.DataFrame


@dataclass(frozen=True)
class Scored:
    """Every input row in exactly one place: scored, or rejected with its reason.

    scored: the scored columns (contract.SCORED_COLUMNS), then the input's own, ranked;
    rejects: the creator rows that could not be scored, as given, with reject_reason;
    campaign_rejects: campaigns that break the contract (the others are scored).
    """

    scored: pd.DataFrame
    rejects: pd.DataFrame
    campaign_rejects: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def counts(self) -> tuple[int, int]:
        """(scored rows, rejected rows)."""
        return len(self.scored), len(self.rejects)


def score(
    creators: pd.DataFrame,
    campaign: CampaignInput,
    model: Recommender,
    top: int | None = None,
) -> pd.DataFrame:
    """Rank `creators` for `campaign`: the scored columns, then the input's own.

    creators: rows in the creators contract (text or typed; extra columns pass
    through). With a campaign_id column, each row is scored for its own campaign.
    campaign: one campaign as a dict, or a campaigns DataFrame.
    model: a fitted Recommender.
    top: keep the best `top` rows of each campaign.

    Rows that break the contract are left out with a RejectedRowsWarning; use
    `score_with_rejects` to get them with their reasons. Raises ScoringError
    when nothing can be scored (no valid campaign, a required column missing).
    """
    result = score_with_rejects(creators, campaign, model, top)
    warn_of_rejects(result, stacklevel=2)
    return result.scored


def warn_of_rejects(result: Scored, stacklevel: int) -> None:
    """A RejectedRowsWarning naming the first reason, if rows were rejected (`stacklevel`:
    warnings.warn's, counted from the caller of this function)."""
    if len(result.rejects):
        first = result.rejects[contract.REJECT_REASON].iloc[0]
        warnings.warn(
            f"{len(result.rejects):,} creator row(s) rejected, e.g. {first}; "
            "score_with_rejects() returns them with their reasons",
            RejectedRowsWarning,
            stacklevel=stacklevel + 1,
        )


def score_with_rejects(
    creators: pd.DataFrame,
    campaign: CampaignInput,
    model: Recommender,
    top: int | None = None,
) -> Scored:
    """Like `score`, and also the rows and campaigns that could not be scored, with reasons."""
    if top is not None and (isinstance(top, bool) or not isinstance(top, Integral) or top < 1):
        raise SettingError(f"top must be a whole number of at least 1 (got {top!r})")
    if not callable(getattr(model, "score_pairs", None)):
        raise SettingError(f"model must be a fitted Recommender (got {type(model).__name__}); "
                           "recommender.score loads one from a path or MLflow")  # fmt: skip
    campaigns = checked_campaigns(campaign)
    pairs, rejects = candidate_pairs(creators, campaigns.valid)
    if not len(pairs):
        return Scored(empty_scored(creator_headers(creators).frame.columns), rejects,
                      campaigns.rejects)  # fmt: skip
    ranked = rank(scored_rows(model, pairs), top)
    return Scored(ranked, rejects, campaigns.rejects)


def checked_campaigns(campaign: CampaignInput | pd.Series) -> contract.Validated:
    """Valid and rejected campaigns from a dict, a Series or a DataFrame; ScoringError if
    none is valid."""
    if isinstance(campaign, pd.DataFrame):
        frame = campaign
    elif isinstance(campaign, (Mapping, pd.Series)):
        campaign = dict(campaign)
        if _of_json_scalars(campaign):  # (a service scores one campaign again and again)
            checked = _checked_plain(tuple((k, type(v), v) for k, v in campaign.items()))
            return contract.Validated(checked.valid.copy(), checked.rejects.copy(),
                                    checked.renamed)  # fmt: skip
        frame = pd.DataFrame([campaign])
    else:
        raise ScoringError(f"campaign must be an object or a table, not {type(campaign).__name__}")
    return _checked_frame(frame)


@functools.lru_cache(maxsize=256)
def _checked_plain(items: tuple[tuple[str, type, object], ...]) -> contract.Validated:
    """A campaign of JSON scalars, checked as pd.DataFrame([campaign]) would be, and
    remembered (the value's type is in the key: True and 1 are equal keys, not equal
    campaigns). Callers copy the frames it returns."""
    return _checked_frame(pd.DataFrame({name: [value] for name, _, value in items}, dtype=object))


def _checked_frame(frame: pd.DataFrame) -> contract.Validated:
    typo = contract.misspelt_column(frame.columns, "campaigns", contract.CAMPAIGNS.names)
    if typo is not None:  # the campaign would be scored without what was meant
        raise ScoringError(f"{typo[0]}: {contract.misspelt_text('campaigns', typo[1])}")
    try:
        objects = all(pd.api.types.is_object_dtype(dtype) for dtype in frame.dtypes)
        as_objects = frame if objects else frame.astype(object)
        checked = contract.validate(as_objects, contract.CAMPAIGNS)
    except ContractError as exc:
        raise ScoringError(str(exc)) from None
    if not len(checked.valid):
        raise ScoringError(f"no valid campaign: {checked.rejects[contract.REJECT_REASON].iloc[0]}")
    return checked


# What JSON holds: values that come back from a column of their own type unchanged.
_PLAIN_VALUES = (str, int, float, bool, type(None))


def _of_json_scalars(campaign: dict[Any, Any]) -> bool:
    """Whether every name is text and every value a JSON scalar."""
    return bool(campaign) and all(
        type(name) is str and type(value) in _PLAIN_VALUES for name, value in campaign.items()
    )


def candidate_pairs(
    creators: pd.DataFrame, campaigns: pd.DataFrame, seen: contract.KeySet | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pair frame of valid candidates, rejected input rows with reasons).

    `seen` holds the keys of rows already taken (earlier chunks of the same file):
    a row repeating one is rejected as a duplicate, and this frame's are added.
    """
    try:
        creators = _own_campaign_columns_apart(creator_headers(creators).frame)
        per_row = "campaign_id" in creators.columns
        original = creators.reset_index(drop=True)
        checked = contract.validate(
            original.assign(_row=np.arange(len(original))),
            contract.CREATORS,
            known={"campaign_id": campaigns["campaign_id"]} if per_row else None,
            key=("campaign_id", "creator_id") if per_row else None,
            seen=seen,
        )
    except ContractError as exc:
        raise ScoringError(str(exc)) from None
    valid, rejects = checked.valid, checked.rejects
    del rejects["_row"]  # (validate's own frame: cheaper than a copy without it)
    if per_row:
        valid["campaign_id"] = valid["campaign_id"].astype("string").str.strip()
        pairs = contract.attach_campaigns(valid, campaigns)
    else:
        pairs = contract.cross_pairs(valid, campaigns)
    pairs, elsewhere = _on_the_campaigns_platform(pairs, valid, original)
    rejects = pd.concat([rejects, elsewhere], ignore_index=True) if len(elsewhere) else rejects
    return pairs.reset_index(drop=True), rejects


def _own_campaign_columns_apart(creators: pd.DataFrame) -> pd.DataFrame:
    """The input's own columns named like a campaign's in the pair frame (campaign_niche)
    renamed input_campaign_niche: they must not stand in for the campaign's."""
    own = {
        c: f"input_{c}"
        for c in creators.columns
        if str(c).startswith(CAMPAIGN_PREFIX) and c != "campaign_id"
    }
    return creators.rename(columns=own) if own else creators


def creator_headers(creators: pd.DataFrame) -> contract.HeaderMatch:
    """A candidate list's headers read as the creators contract's (a campaign_id included)."""
    return contract.contract_headers(
        creators, "creators", [*contract.CREATORS.names, "campaign_id"]
    )


def _on_the_campaigns_platform(
    pairs: pd.DataFrame, valid: pd.DataFrame, original: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pairs a campaign's platform allows, and the input rows no campaign allows
    (as they were given, with the platform wanted as their reason)."""
    platform = pairs.get(f"{CAMPAIGN_PREFIX}platform")
    if platform is None:
        return pairs, pd.DataFrame()
    allowed = (platform.isna() | (platform == pairs["platform"])).to_numpy(dtype=bool)
    unpaired = ~np.isin(valid["_row"].to_numpy(), pairs["_row"].to_numpy()[allowed])
    if not unpaired.any():
        return (pairs if allowed.all() else pairs.loc[allowed]), pd.DataFrame()
    excluded = valid.loc[unpaired]
    wanted = (
        pairs.loc[~allowed]
        .groupby("_row")[f"{CAMPAIGN_PREFIX}platform"]
        .agg(lambda v: ", ".join(sorted(set(v))))
    )
    reasons = [
        f"platform: the campaign wants {wanted[r]} (got '{p}')"
        for r, p in zip(excluded["_row"], excluded["platform"], strict=True)
    ]
    as_given = original.iloc[excluded["_row"].to_numpy()].assign(
        **{contract.REJECT_REASON: reasons}
    )
    return pairs.loc[allowed], as_given


def scored_rows(recommender: Recommender, pairs: pd.DataFrame) -> pd.DataFrame:
    """The scored columns (rank left to `rank`) and the input's own columns."""
    from recommender.scoring import explain  # (with the features' libraries: see above)

    scores = recommender.score_pairs(pairs)
    flagged = explain.flags(scores.features, scores.anomaly_threshold, scores.unlike_hires)
    reasons = explain.with_unlike_hires(
        explain.reasons(scores.contributions, scores.features, pairs), scores.unlike_hires
    )
    own = [c for c in pairs.columns if not c.startswith(CAMPAIGN_PREFIX) and c != "_row"]
    given = [c for c in own if c not in ("campaign_id", "creator_id")]
    clashing = _clashing(given)
    columns = rounded_columns(scores.predictions, OUTPUT_DECIMALS)
    names = [*scores.predictions.columns, *contract.EXPLANATION_COLUMNS,
             *(clashing.get(c, c) for c in given)]  # fmt: skip
    if columns is None or not pairs.columns.is_unique or len(set(names)) < len(names):
        # (a name twice: the frames are put side by side as they are)
        predicted = _rounded(scores.predictions).assign(flags=flagged, reasons=reasons)
        mine = pairs[given]
        return pd.concat([predicted, mine.rename(columns=clashing) if clashing else mine], axis=1)
    # The same columns as the concat above, built as one frame.
    columns["flags"], columns["reasons"] = flagged, reasons
    columns.update((clashing.get(c, c), pairs[c]) for c in given)
    return pd.DataFrame(columns, index=pairs.index, copy=False)


def _rounded(predictions: pd.DataFrame) -> pd.DataFrame:
    """predictions.round(OUTPUT_DECIMALS): cents, and six decimals for scores."""
    columns = rounded_columns(predictions, OUTPUT_DECIMALS)
    if columns is None:
        return predictions.round(OUTPUT_DECIMALS)
    rounded = pd.DataFrame(columns, index=predictions.index, copy=False)
    rounded.columns = predictions.columns
    return rounded


def _clashing(columns: Iterable[str]) -> dict[str, str]:
    """An input column named like an output (a scored file scored again) is kept, renamed."""
    return {c: f"{c}_input" for c in columns if c in contract.SCORED_COLUMNS}


def read_names(input_columns: Iterable[str]) -> list[str]:
    """The names candidate_pairs reads an input's columns by (and its rejects keep): headers
    read as the contract's, a column named like a campaign's renamed input_campaign_..."""
    read_as = creator_headers(pd.DataFrame(columns=list(input_columns))).frame.columns
    return [str(c) for c in _own_campaign_columns_apart(pd.DataFrame(columns=read_as)).columns]


def own_output_columns(input_columns: Iterable[str]) -> list[tuple[str, str]]:
    """(input header, output column) of each of the input's own columns in a scored
    output, in scored_rows' order: headers read as the contract's, a column named like a
    campaign's or an output's renamed; the ids are the output's own."""
    headers = list(input_columns)
    pairs = [(h, c) for h, c in zip(headers, read_names(headers), strict=True)
             if c not in ("campaign_id", "creator_id")]  # fmt: skip
    clashing = _clashing(c for _, c in pairs)
    return [(h, clashing.get(c, c)) for h, c in pairs]
