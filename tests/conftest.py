from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recommender.modeling.training import TrainConfig, train
from recommender.simulate import Market, generate_market
from recommender.tracking import as_model_input, export_model


@pytest.fixture(scope="session")
def small_market() -> Market:
    return generate_market(n_creators=3_000, n_campaigns=40, seed=7)


@pytest.fixture
def creators_frame() -> pd.DataFrame:
    """Three valid creators as text, the way a CSV arrives."""
    return pd.DataFrame(
        {
            "creator_id": ["a", "b", "c"],
            "platform": ["instagram", "TikTok", "youtube"],
            "followers": ["1000", "0", "250000"],
            "avg_likes": ["50", "0", "3000.5"],
            "avg_comments": ["2", "0", "40"],
            "niche": ["Pet", "food", "tech"],
        }
    )


@pytest.fixture(scope="session")
def market() -> Market:
    """A small market and (below) a quickly trained model for the serving tests."""
    return generate_market(n_creators=2_000, n_campaigns=40, seed=4)


@pytest.fixture(scope="session")
def model_dir(market: Market, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = TrainConfig(seed=0, folds=2, n_estimators=60, losses=("l2", "huber"))
    result = train(market.creators, market.campaigns, market.outcomes, None, config)
    folder = tmp_path_factory.mktemp("model") / "latest"
    export_model(result.recommender, as_model_input(result.test, rows=3), folder)
    return folder
