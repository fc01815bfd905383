"""The public functions: each resolves what it is given (a data folder, a model path, an
MLflow URI, the champion) and calls the library with it.

    import recommender
    result = recommender.train("data/demo")                  # validate, train, evaluate
    result = recommender.train("data/demo", track=True)      # ... and log to MLflow, gate
    scored = recommender.score(creators, campaign)           # the champion, or model=...
    plan = recommender.plan(creators, campaign, 3000, explore=0.2)

The command line calls these too. The library under them takes what is resolved:
modeling.training.fit_and_evaluate frames, scoring and scoring.planning a fitted
Recommender.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd

from recommender import config, contract
from recommender.contract import combined_rejects, summarise, validate_tables
from recommender.datasets.files import TABLE_NAMES, find_tables, load_tables, read_truth
from recommender.errors import DataFileError
from recommender.mlops.model_store import ModelRef, check_model_dir, load_model, loaded_model
from recommender.modeling import evaluation
from recommender.modeling.training import TrainConfig, TrainResult, fit_and_evaluate
from recommender.scoring import CampaignInput, Scored, warn_of_rejects
from recommender.scoring import score_with_rejects as _score_with_rejects
from recommender.scoring.planning import Constraints, Plan
from recommender.scoring.planning import plan as _plan

__all__ = ["TrainingData", "load_model", "plan", "score", "score_with_rejects", "train"]

TrainingData = str | os.PathLike[str] | Mapping[str, pd.DataFrame]


def train(
    data: TrainingData,
    *,
    seed: int = 0,
    options: TrainConfig | None = None,
    truth: pd.DataFrame | None = None,
    track: bool = False,
    experiment: str | None = None,
    model_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Validate campaign history, train the recommender, and measure it on held-out campaigns
    (the recipe fitted without them; the model returned and logged then learns from all).

    data: a folder of creators, campaigns and outcomes files (any format
    io reads; a `truth/expected_outcomes` file there is used for evaluation
    only), or a mapping {"creators": frame, "campaigns": frame, "outcomes": frame}.
    Rows that break the contract are left out and returned in `rejects`.
    seed: the seed of the split and the models (ignored when `options` is given).
    options: every training setting (TrainConfig); by default TrainConfig(seed=seed).
    truth: noise-free expected outcomes to evaluate against (a simulator's).
    track: log the run to MLflow (config's tracking store), register the model
    and move the `champion` alias if it beats the current champion; the
    result's `run` says what happened.
    experiment: the MLflow experiment (config's default when None).
    model_dir: also export the model there (an MLflow model directory); a path
    whose replacement would destroy something is refused before any work.
    progress: called with a line for each step (e.g. print).
    Returns a TrainResult (`.recommender`, `.metrics`, `.test`, `.split`, `.rejects`,
    `.run`). Raises DataFileError when the data as a whole cannot be used.
    """
    say = progress or (lambda message: None)
    _check_destinations(data, model_dir, track)
    if isinstance(data, Mapping):
        missing = [name for name in TABLE_NAMES if name not in data]
        if missing:
            raise DataFileError(f"the training data has no {', '.join(missing)} table")
        where, checked = "", validate_tables(data)
    else:
        where, checked = f"{data}: ", load_tables(find_tables(Path(data)), say=say)
    for line in summarise(checked):
        say(line)
    empty = [name for name in TABLE_NAMES if not len(checked[name].valid)]
    if empty:
        raise DataFileError(f"{where}no valid rows in {', '.join(empty)}")
    if truth is None and not isinstance(data, Mapping):
        truth = read_truth(Path(data), say)
    valid = {name: checked[name].valid for name in TABLE_NAMES}
    train_config = options or TrainConfig(seed=seed)
    result = fit_and_evaluate(
        valid["creators"], valid["campaigns"], valid["outcomes"], truth, train_config, say
    )
    result = replace(result, rejects=combined_rejects(checked))
    say(format_metrics(result.metrics, result.truth))
    if track:
        result = _track(result, checked, train_config, data, experiment, say)
    if model_dir is not None:
        _export(result, Path(os.path.realpath(model_dir)))  # through a symlink, kept one
        say(f"model exported to {model_dir} (the last trained; scoring serves the champion)")
    return result


def format_metrics(metrics: pd.DataFrame, truth: str) -> str:
    """The held-out metrics table with the model's lead over the best baseline."""
    best_baseline = metrics.drop(index="model")[evaluation.HEADLINE_METRIC].max()
    ratio = metrics.loc["model", evaluation.HEADLINE_METRIC] / best_baseline
    table = metrics.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-")
    return (
        f"held-out campaigns, {truth} truth:\n{table}\n"
        f"model / best baseline on {evaluation.HEADLINE_METRIC}: {ratio:.2f}x"
    )


def _track(
    result: TrainResult,
    checked: Mapping[str, contract.Validated],
    train_config: TrainConfig,
    data: TrainingData,
    experiment: str | None,
    say: Callable[[str], None],
) -> TrainResult:
    from recommender.mlops import tracking

    params = {
        "seed": train_config.seed,
        "test_fraction": train_config.test_fraction,
        "folds": train_config.folds,
        "losses_compared": ",".join(train_config.losses),
        "interval_coverage_target": train_config.interval_coverage,
        "n_estimators": train_config.n_estimators,
        "prior": train_config.prior,
        "data_dir": "(frames)" if isinstance(data, Mapping) else str(data),
        **{f"rows.{name}": len(table.valid) for name, table in checked.items()},
        **{f"rejected.{name}": len(table.rejects) for name, table in checked.items()},
    }
    valid = {name: table.valid for name, table in checked.items()}
    run = tracking.track_training(result, valid, params, experiment or config.settings().experiment)
    say(
        f"MLflow run {run.run_id} ({run.tracking_uri}); "
        f"registered {tracking.MODEL_NAME} version {run.version}"
    )
    say(run.gate_message)
    return replace(result, run=run)


def _check_destinations(
    data: TrainingData, model_dir: str | os.PathLike[str] | None, track: bool
) -> None:
    """Before any training: the model folders are ones an export may replace, and a tracked
    run's store answers (its local champion folder too, without a tracking server)."""
    keep = None if isinstance(data, Mapping) else data
    if model_dir is not None:
        check_model_dir(model_dir, keep)
    if not track:
        return
    from recommender.mlops.champion import check_store

    check_store()
    settings = config.settings()
    if not settings.tracking_configured:
        check_model_dir(settings.champion_dir, keep)


def _export(result: TrainResult, model_dir: Path) -> None:
    from recommender.mlops import tracking
    from recommender.mlops.signature import as_model_input

    run = result.run
    tracking.export_model(
        result.recommender,
        as_model_input(result.test, rows=3),
        model_dir,
        run.version if run else None,
        run.run_id if run else None,
    )


def score(
    creators: pd.DataFrame,
    campaign: CampaignInput,
    model: ModelRef = None,
    top: int | None = None,
) -> pd.DataFrame:
    """Rank `creators` for `campaign`: the scored columns, then the input's own.

    creators: rows in the creators contract (text or typed; extra columns pass
    through). With a campaign_id column, each row is scored for its own campaign.
    campaign: one campaign as a dict, or a campaigns DataFrame.
    model: a Recommender, a model directory or file, an MLflow URI, or None for
    the configured default (see recommender.config).
    top: keep the best `top` rows of each campaign.

    Rows that break the contract are left out with a RejectedRowsWarning; use
    `score_with_rejects` to get them with their reasons. Raises ScoringError
    when nothing can be scored (no valid campaign, a required column missing).
    """
    result = score_with_rejects(creators, campaign, model, top)
    warn_of_rejects(result, stacklevel=2)
    return result.scored


def score_with_rejects(
    creators: pd.DataFrame,
    campaign: CampaignInput,
    model: ModelRef = None,
    top: int | None = None,
) -> Scored:
    """Like `score`, and also the rows and campaigns that could not be scored, with reasons."""
    return _score_with_rejects(creators, campaign, load_model(model), top)


def plan(
    creators: pd.DataFrame,
    campaign: CampaignInput,
    budget_usd: float,
    model: ModelRef = None,
    explore: float = 0.0,
    constraints: Constraints | None = None,
    seed: int | None = None,
) -> Plan:
    """Score the candidates for one campaign, then choose whom to hire within `budget_usd`.

    creators and campaign: as for `score` (one campaign only).
    model: a Recommender, a model directory or file, an MLflow URI, or None for
    the configured default; the summary's "model" names the one that scored.
    explore: the share of the budget (0 to below 1) kept for creators in audience
    segments the plan does not already hire in.
    constraints: what to rule out or cap (Constraints(); flagged accounts are
    left out by default). seed: exploration's draws (None: one derived from the
    candidates, so the same candidates give the same plan). Raises SettingError (a
    ValueError) for settings no plan can meet, ScoringError when nothing can be scored.
    """
    recommender, identity = loaded_model(model)  # one load: the summary names what scored
    result = _plan(creators, campaign, budget_usd, recommender, explore, constraints, seed)
    result.summary["model"] = identity.as_dict()
    return result
