"""Creator recommender: choose social-media creators for a campaign from your own results.

    import recommender

    result = recommender.train("data/demo")          # or {"creators": df, "campaigns": ..., ...}
    scored = recommender.score(creators, {"campaign_id": "c1", "niche": "pet"}, result.recommender)
    plan = recommender.plan(creators, campaign, 3000, explore=0.2,
                            constraints=recommender.Constraints(max_niche_share=0.5))

The public API: the functions `train`, `score`, `score_with_rejects`, `plan` and
`load_model` (recommender.api); what they return (`Recommender`, `TrainResult`,
`Scored`, `Plan`) and take (`Constraints`); the errors a caller catches
(`DataFileError`, `ContractError`, `ScoringError`, `ModelNotFound`,
`ModelUnreachable`, `SettingError`, and `MissingExtra` for a part whose extra is not
installed); the `RejectedRowsWarning` score() gives; and `__version__`. Each is the
function or class itself (help() shows its signature and documentation); they load on
first use, so `import recommender` stays light (no MLflow, no LightGBM). Defaults (the
model, the MLflow store) come from recommender.config.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recommender.api import load_model, plan, score, score_with_rejects, train
    from recommender.errors import (
        ContractError,
        DataFileError,
        MissingExtra,
        ModelNotFound,
        ModelUnreachable,
        RejectedRowsWarning,
        ScoringError,
        SettingError,
    )
    from recommender.modeling.estimator import Recommender
    from recommender.modeling.training import TrainResult
    from recommender.scoring import Scored
    from recommender.scoring.planning import Constraints, Plan

try:
    __version__ = importlib.metadata.version("creator-recommender")
except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# Where each public name lives; imported on first use.
_PUBLIC = {
    "train": "recommender.api",
    "score": "recommender.api",
    "score_with_rejects": "recommender.api",
    "plan": "recommender.api",
    "load_model": "recommender.api",
    "Recommender": "recommender.modeling.estimator",
    "TrainResult": "recommender.modeling.training",
    "Scored": "recommender.scoring",
    "Constraints": "recommender.scoring.planning",
    "Plan": "recommender.scoring.planning",
    **dict.fromkeys(
        [
            "ContractError",
            "DataFileError",
            "MissingExtra",
            "ModelNotFound",
            "ModelUnreachable",
            "RejectedRowsWarning",
            "ScoringError",
            "SettingError",
        ],
        "recommender.errors",
    ),
}

__all__ = [
    "Constraints",
    "ContractError",
    "DataFileError",
    "MissingExtra",
    "ModelNotFound",
    "ModelUnreachable",
    "Plan",
    "Recommender",
    "RejectedRowsWarning",
    "Scored",
    "ScoringError",
    "SettingError",
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
