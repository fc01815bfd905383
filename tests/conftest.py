from __future__ import annotations

import pandas as pd
import pytest

from recommender.simulate import Market, generate_market


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
