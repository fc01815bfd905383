"""Scoring with a fitted model: score and rank candidates, explain each score, plan a budget.

    from recommender.scoring import score_with_rejects
    result = score_with_rejects(creators, campaign, recommender)   # a fitted Recommender

Modules, in the order data flows through them:
    score      candidates and campaigns checked and paired, scored, explained; `Scored`
    rank       rank within each campaign, keep the best few
    explain    flags and the reasons a score gives
    planning   whom to hire within a budget (`plan`, `Constraints`, `Plan`)
    plots      the plan's figure

Nothing here loads a model, reads a file or talks to MLflow: recommender.api, the
engines and the HTTP service resolve the model and pass it in. (planning and plots,
which need SciPy and Matplotlib, are imported as modules of their own.)
"""

from __future__ import annotations

from recommender.scoring.rank import best_of_each_campaign, by_score, empty_scored, rank
from recommender.scoring.score import (
    OUTPUT_DECIMALS,
    CampaignInput,
    Scored,
    candidate_pairs,
    checked_campaigns,
    creator_headers,
    own_output_columns,
    read_names,
    score,
    score_with_rejects,
    scored_rows,
    warn_of_rejects,
)

__all__ = [
    "OUTPUT_DECIMALS",
    "CampaignInput",
    "Scored",
    "best_of_each_campaign",
    "by_score",
    "candidate_pairs",
    "checked_campaigns",
    "creator_headers",
    "empty_scored",
    "own_output_columns",
    "rank",
    "read_names",
    "score",
    "score_with_rejects",
    "scored_rows",
    "warn_of_rejects",
]
