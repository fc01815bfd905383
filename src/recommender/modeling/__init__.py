"""Models: the campaign-fit ranker, the sales-lift model with intervals, and the recommender
that holds both.

Modules:
    ranker       CampaignFitRanker: a LightGBM ranker of creators within a campaign
    lift         the sales-lift model and its calibrated intervals
    prior        the marketing rule of thumb the lift model starts from
    support      who gets hired: intervals that widen where the history never looked
    estimator    Recommender: features, ranker and lift model, fitted together
    training     fit_and_evaluate: split, fit, measure on held-out campaigns, refit on all
    evaluation   NDCG and ROI metrics, the baselines, the held-out metrics
    evidence     the gate's statistics: NDCG per campaign out of sample, paired intervals
    offpolicy    what another policy would have earned on logged choices (DM, IPW, SNIPW, DR)
    plots        a training run's figures
"""

from __future__ import annotations

from recommender.modeling.estimator import MODEL_FORMAT, Recommender
from recommender.modeling.training import TrainConfig, TrainResult, fit_and_evaluate

__all__ = ["MODEL_FORMAT", "Recommender", "TrainConfig", "TrainResult", "fit_and_evaluate"]
