"""Feature engineering: pure DataFrame -> DataFrame scikit-learn transformers.

The input is a pair frame (contract.pair_frame): one row per (campaign, creator),
the creator's contract columns as they are and the campaign's under a
`campaign_` prefix. `PairFeatures` turns it into the numeric features every
model reads (FEATURES, in that order); the same fitted transformer runs in
training and scoring. A missing optional column makes its features NaN, never
an error: LightGBM treats NaN as "unknown" and learns what to do with it.

Modules:
    creator   a creator's own features (CreatorFeatures, CREATOR_FEATURES)
    match     a creator's fit to a campaign (MatchFeatures, MATCH_FEATURES)
    pairs     both, as every model reads them (PairFeatures, FEATURES)

Everything here is learned from the data it is fitted on (tier norms, the
price model, the anomaly detector, niche-pair affinities); nothing encodes how
any particular market was generated.
"""

from __future__ import annotations

from recommender.features.creator import (
    CREATOR_FEATURES,
    CreatorFeatures,
    creator_basics,
    one_row_per_creator,
    sponsorship_ratio,
)
from recommender.features.match import MATCH_FEATURES, MatchFeatures, niche_similarity
from recommender.features.pairs import FEATURES, PairFeatures

__all__ = [
    "CREATOR_FEATURES",
    "FEATURES",
    "MATCH_FEATURES",
    "CreatorFeatures",
    "MatchFeatures",
    "PairFeatures",
    "creator_basics",
    "niche_similarity",
    "one_row_per_creator",
    "sponsorship_ratio",
]
