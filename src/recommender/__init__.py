"""Creator recommender: choose social-media creators for a campaign from your own results.

    import recommender

    result = recommender.train("data/demo")          # or {"creators": df, "campaigns": ..., ...}
    scored = recommender.score(creators, {"campaign_id": "c1", "niche": "pet"}, result.recommender)
    plan = recommender.plan(creators, campaign, 3000, explore=0.2,
                            constraints=recommender.Constraints(max_niche_share=0.5))

The public API: `train`, `score`, `score_with_rejects`, `plan`, `load_model`,
`Constraints`, `Plan`, `Scored`, `TrainResult` and `__version__`. Each is the
function or class itself (help() shows its signature and documentation); they
load on first use, so `import recommender` stays light (no MLflow, no LightGBM).
Defaults (the model, the MLflow store) come from recommender.config.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recommender.api import train
    from recommender.mlops.model_store import load_model
    from recommender.modeling.training import TrainResult
    from recommender.scoring import Scored, score, score_with_rejects
    from recommender.scoring.planning import Constraints, Plan, plan

try:
    __version__ = importlib.metadata.version("creator-recommender")
except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# Where each public name lives; imported on first use.
_PUBLIC = {
    "train": "recommender.api",
    "TrainResult": "recommender.modeling.training",
    "score": "recommender.scoring",
    "score_with_rejects": "recommender.scoring",
    "Scored": "recommender.scoring",
    "plan": "recommender.scoring.planning",
    "Constraints": "recommender.scoring.planning",
    "Plan": "recommender.scoring.planning",
    "load_model": "recommender.mlops.model_store",
}

__all__ = [
    "Constraints",
    "Plan",
    "Scored",
    "TrainResult",
    "__version__",
    "load_model",
    "plan",
    "score",
    "score_with_rejects",
    "train",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is used."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'recommender' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
