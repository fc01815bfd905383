"""Score creators for campaigns: the library function behind the CLI and HTTP.

    recommender.score(creators, campaign, model=None) -> DataFrame
    recommender.score_with_rejects(...) -> Scored(scored, rejects)

`campaign` is one campaign (a dict of the campaigns contract), or a campaigns
DataFrame. If `creators` has a campaign_id column, each row is scored for its
own campaign; otherwise every creator is scored for every campaign. Every input
row ends scored or rejected with a reason.

Models load from a directory (default models/latest, or $CREATOR_RECOMMENDER_MODEL)
or from an MLflow URI (models:/creator-recommender@champion); MLflow is imported
only for a URI. Loaded models are cached.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from recommender import explain, schema
from recommender.features import CAMPAIGN_PREFIX, attach_campaigns, cross_pairs
from recommender.io import one_line
from recommender.modeling.recommender import MODEL_FORMAT, Recommender

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models" / "latest"
MODEL_ENV = "CREATOR_RECOMMENDER_MODEL"
RECOMMENDER_FILE = "recommender.joblib"
URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/", "file://")

OUTPUT_DECIMALS = {
    "score": 6, "fit_score": 4, "expected_roi": 6, "expected_lift_usd": 2, "lift_low_usd": 2,
    "lift_high_usd": 2, "cost_usd": 2,
}  # fmt: skip

_cache: dict[str, Recommender] = {}


class ScoringError(Exception):
    """The request as a whole cannot be scored; the message is one line."""


class ModelNotFound(ScoringError):
    pass


@dataclass(frozen=True)
class Scored:
    scored: pd.DataFrame
    rejects: pd.DataFrame  # rejected creator rows, as given, with reject_reason
    campaign_rejects: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def counts(self) -> tuple[int, int]:
        return len(self.scored), len(self.rejects)


def load_model(model: str | os.PathLike[str] | Recommender | None = None) -> Recommender:
    """A trained Recommender from a model directory or an MLflow URI (cached)."""
    if isinstance(model, Recommender):
        return model
    ref = str(model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL_DIR)
    if ref.startswith(URI_SCHEMES):
        if ref not in _cache:
            _cache[ref] = _load_from_mlflow(ref)
        return _cache[ref]
    path = Path(ref)
    file = path if path.suffix == ".joblib" else path / "artifacts" / RECOMMENDER_FILE
    if not file.is_file():
        raise ModelNotFound(f"{path}: no trained model here (train one with `python train.py`)")
    key = f"{file.resolve()}:{file.stat().st_mtime_ns}"
    if key not in _cache:
        _cache[key] = _load_file(file)
    return _cache[key]


def _load_file(file: Path) -> Recommender:
    older = f"{file}: trained by an older version of this package; retrain with `python train.py`"
    try:
        loaded = joblib.load(file)
    except (ModuleNotFoundError, AttributeError):  # classes since renamed or removed
        raise ModelNotFound(older) from None
    if not isinstance(loaded, Recommender):
        raise ModelNotFound(f"{file}: not a creator-recommender model")
    if loaded.metadata.get("model_format") != MODEL_FORMAT:
        raise ModelNotFound(older)
    return loaded


def _load_from_mlflow(uri: str) -> Recommender:
    import mlflow
    from mlflow.exceptions import MlflowException

    from recommender.tracking import set_tracking

    set_tracking(PROJECT_ROOT)  # MLFLOW_TRACKING_URI, else the project's sqlite store
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
    except (MlflowException, OSError) as exc:
        raise ModelNotFound(f"{uri}: cannot load the model: {one_line(exc)}") from None
    return _load_file(Path(local) / "artifacts" / RECOMMENDER_FILE)


def campaigns_frame(campaign: Mapping[str, Any] | pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Valid campaigns from a dict, a Series or a DataFrame; ScoringError if none is valid."""
    return checked_campaigns(campaign).valid


def checked_campaigns(campaign: Mapping[str, Any] | pd.DataFrame | pd.Series) -> schema.Validated:
    """Valid and rejected campaigns; ScoringError if none is valid."""
    if isinstance(campaign, pd.DataFrame):
        frame = campaign
    elif isinstance(campaign, (Mapping, pd.Series)):
        frame = pd.DataFrame([dict(campaign)])
    else:
        raise ScoringError(f"campaign must be an object or a table, not {type(campaign).__name__}")
    try:
        checked = schema.validate(frame.astype(object), schema.CAMPAIGNS)
    except schema.ContractError as exc:
        raise ScoringError(str(exc)) from None
    if not len(checked.valid):
        raise ScoringError(f"no valid campaign: {checked.rejects[schema.REJECT_REASON].iloc[0]}")
    return checked


def score(
    creators: pd.DataFrame,
    campaign: Mapping[str, Any] | pd.DataFrame,
    model: str | os.PathLike[str] | Recommender | None = None,
    top: int | None = None,
) -> pd.DataFrame:
    """Scored rows (DESIGN.md's columns, then the input's); rejects in `.attrs["rejects"]`."""
    result = score_with_rejects(creators, campaign, model, top)
    result.scored.attrs["rejects"] = result.rejects
    return result.scored


def score_with_rejects(
    creators: pd.DataFrame,
    campaign: Mapping[str, Any] | pd.DataFrame,
    model: str | os.PathLike[str] | Recommender | None = None,
    top: int | None = None,
) -> Scored:
    """Score every valid creator; every input row ends in `scored` or `rejects`."""
    recommender = load_model(model)
    campaigns = checked_campaigns(campaign)
    pairs, rejects = candidate_pairs(creators, campaigns.valid)
    if not len(pairs):
        return Scored(_empty_scored(creators), rejects, campaigns.rejects)
    ranked = rank(score_pairs(recommender, pairs), top)
    return Scored(ranked, rejects, campaigns.rejects)


def candidate_pairs(
    creators: pd.DataFrame, campaigns: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pair frame of valid candidates, rejected input rows with reasons)."""
    per_row = "campaign_id" in creators.columns
    original = creators.reset_index(drop=True)
    try:
        checked = schema.validate(
            original.assign(_row=np.arange(len(original))),
            schema.CREATORS,
            known={"campaign_id": campaigns["campaign_id"]} if per_row else None,
            key=("campaign_id", "creator_id") if per_row else None,
        )
    except schema.ContractError as exc:
        raise ScoringError(str(exc)) from None
    valid, rejects = checked.valid, checked.rejects.drop(columns="_row")
    if per_row:
        valid["campaign_id"] = valid["campaign_id"].astype("string").str.strip()
        pairs = attach_campaigns(valid, campaigns)
    else:
        pairs = cross_pairs(valid, campaigns)
    # A campaign's platform restricts its candidates.
    platform = pairs.get(f"{CAMPAIGN_PREFIX}platform")
    if platform is not None:
        allowed = (platform.isna() | (platform == pairs["platform"])).to_numpy(dtype=bool)
        excluded = valid.loc[~valid["_row"].isin(pairs.loc[allowed, "_row"])]
        if len(excluded):
            wanted = (
                pairs.loc[~allowed]
                .groupby("_row")[f"{CAMPAIGN_PREFIX}platform"]
                .agg(lambda v: ", ".join(sorted(set(v))))
            )
            # Rejected rows are written as they came in, not as validated.
            as_given = original.iloc[excluded["_row"].to_numpy()].assign(
                **{
                    schema.REJECT_REASON: [
                        f"platform: the campaign wants {wanted[r]} (got '{p}')"
                        for r, p in zip(excluded["_row"], excluded["platform"], strict=True)
                    ]
                }
            )
            rejects = pd.concat([rejects, as_given], ignore_index=True)
        pairs = pairs.loc[allowed]
    return pairs.reset_index(drop=True), rejects


def score_pairs(recommender: Recommender, pairs: pd.DataFrame) -> pd.DataFrame:
    """DESIGN.md's scored columns (rank left to `rank`) and the input's own columns."""
    X = recommender.transform(pairs)
    lift_contributions = recommender.lift.contributions(X)
    predicted = recommender.predict(pairs, features=X, lift_contributions=lift_contributions)
    anomaly_threshold = recommender.features.named_steps["features"].creator_.anomaly_threshold_
    # Cents and six decimals are all a reader needs, and short numbers write fast.
    predicted = predicted.round(OUTPUT_DECIMALS)
    predicted["flags"] = explain.flags(X, anomaly_threshold)
    predicted["reasons"] = _reasons(recommender, X, pairs, lift_contributions)
    own = [
        c
        for c in pairs.columns
        if not c.startswith(CAMPAIGN_PREFIX) and c != "_row" and c not in schema.SCORED_COLUMNS
    ]
    return pd.concat([predicted, pairs[own]], axis=1)


def _reasons(
    recommender: Recommender, X: pd.DataFrame, pairs: pd.DataFrame, lift_contributions: np.ndarray
) -> np.ndarray:
    """Reasons from the contributions of the model behind each row's score."""
    objective = pairs.get(f"{CAMPAIGN_PREFIX}objective", pd.Series("sales", index=pairs.index))
    by_fit = objective.isin(["awareness", "content"]).to_numpy(dtype=bool)
    contributions = lift_contributions.copy()
    if by_fit.any():
        contributions[by_fit] = recommender.ranker.contributions(X.loc[by_fit])
    return explain.reasons(contributions, X, pairs)


def rank(scored: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """Rank 1 = best score in each campaign (ties: higher fit, then creator_id); keep `top`."""
    order = scored.assign(
        _score=scored["score"].fillna(-np.inf), _fit=scored["fit_score"].fillna(-np.inf)
    ).sort_values(
        ["campaign_id", "_score", "_fit", "creator_id"],
        ascending=[True, False, False, True],
        kind="stable",
    )
    order["rank"] = order.groupby("campaign_id", sort=False).cumcount() + 1
    if top is not None:
        order = order[order["rank"] <= top]
    columns = list(schema.SCORED_COLUMNS) + [
        c for c in order.columns if c not in schema.SCORED_COLUMNS and not c.startswith("_")
    ]
    return order[columns].reset_index(drop=True)


def _empty_scored(creators: pd.DataFrame) -> pd.DataFrame:
    own = [c for c in creators.columns if c not in schema.SCORED_COLUMNS]
    return pd.DataFrame(columns=list(schema.SCORED_COLUMNS) + own)
