"""Creator recommender: choose social-media creators for a campaign from your own results.

    import recommender
    scored = recommender.score(creators, {"campaign_id": "c1", "niche": "pet"})

`import recommender` stays light: the scoring code loads on first use, and
MLflow only when a model is given as an MLflow URI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recommender.planning import Plan
    from recommender.scoring import Scored

__all__ = ["load_model", "plan", "score", "score_with_rejects"]


def plan(*args: Any, **kwargs: Any) -> Plan:
    """See recommender.planning.plan."""
    from recommender.planning import plan as _plan

    return _plan(*args, **kwargs)


def score(*args: Any, **kwargs: Any) -> Any:
    """See recommender.scoring.score."""
    from recommender.scoring import score as _score

    return _score(*args, **kwargs)


def score_with_rejects(*args: Any, **kwargs: Any) -> Scored:
    """See recommender.scoring.score_with_rejects."""
    from recommender.scoring import score_with_rejects as _score_with_rejects

    return _score_with_rejects(*args, **kwargs)


def load_model(*args: Any, **kwargs: Any) -> Any:
    """See recommender.scoring.load_model."""
    from recommender.scoring import load_model as _load_model

    return _load_model(*args, **kwargs)
