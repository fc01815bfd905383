"""Fixtures shared by the whole suite: one small market, one model trained on it, exported once.

Tests that need a model of their own (determinism, thin data, the feedback
loop, the training command) train one; every other test reuses these.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pandas as pd
import pytest
from helpers import CAMPAIGN

from recommender.datasets.simulate import Market, generate_market
from recommender.mlops.signature import as_model_input
from recommender.mlops.tracking import export_model
from recommender.modeling.estimator import Recommender
from recommender.modeling.training import TrainConfig, TrainResult, fit_and_evaluate


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C as a terminal's foreground job hears it. A shell without job control starts
    a background job (`make test &` in a script) with SIGINT ignored, and every command the
    tests start and interrupt would inherit that. Python's own handler, not SIG_DFL: the
    suite's process hears it too (a test sends Ctrl-C to itself)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# Small and quick, yet enough campaigns for the metrics to mean something.
FAST = TrainConfig(seed=1, folds=3, n_estimators=200)


@pytest.fixture(scope="session")
def market() -> Market:
    """A demo market of 4,000 creators and 60 campaigns, with its noise-free truth."""
    return generate_market(n_creators=4_000, n_campaigns=60, seed=5)


@pytest.fixture(scope="session")
def trained(market: Market) -> TrainResult:
    """The market's model, trained once on its whole history (its recipe measured on the
    held-out campaigns)."""
    return fit_and_evaluate(market.creators, market.campaigns, market.outcomes,
                            market.expected, FAST)  # fmt: skip


@pytest.fixture(scope="session")
def model(trained: TrainResult) -> Recommender:
    """The trained Recommender."""
    return trained.recommender


@pytest.fixture(scope="session")
def model_dir(trained: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained model exported as an MLflow model directory, as train exports it."""
    folder = tmp_path_factory.mktemp("model") / "latest"
    export_model(trained.recommender, as_model_input(trained.test, rows=3), folder)
    return folder


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


@pytest.fixture
def candidate_files(tmp_path: Path, market: Market) -> Path:
    """A folder with creators.csv (200 market creators as text, four rows broken and one
    duplicated) and campaign.json (CAMPAIGN)."""
    creators = market.creators.head(200).astype(object)
    creators.loc[10, "followers"] = "-7"
    creators.loc[11, "platform"] = "myspace"
    creators.loc[12, "avg_likes"] = "lots"
    creators.loc[13, "audience_female_share"] = "1.4"
    creators = pd.concat([creators, creators.iloc[[0]]], ignore_index=True)  # a duplicate
    creators.to_csv(tmp_path / "creators.csv", index=False)
    (tmp_path / "campaign.json").write_text(json.dumps(CAMPAIGN))
    return tmp_path
