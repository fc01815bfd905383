"""Where campaign data comes from: a simulated market, the shipped real creators, a brand's
own files, and the outcomes of campaigns it ran.

Modules:
    simulate   a synthetic market with known truth (`generate_market`, `write_market`)
    real       the shipped Instagram creators as a creators table (`load_real_creators`)
    files      a data folder's tables found, read and validated (`find_tables`, `load_tables`)
    feedback   a campaign's outcomes added to the history (`add_outcomes`, `add_outcome_file`)
"""

from __future__ import annotations

from recommender.datasets.feedback import Added, add_outcome_file, add_outcomes
from recommender.datasets.files import (
    TABLE_NAMES,
    find_tables,
    load_tables,
    read_truth,
    reading_notes,
)
from recommender.datasets.real import load_real_creators, read_influencers, read_posts
from recommender.datasets.simulate import Market, generate_market, write_market

__all__ = [
    "TABLE_NAMES",
    "Added",
    "Market",
    "add_outcome_file",
    "add_outcomes",
    "find_tables",
    "generate_market",
    "load_real_creators",
    "load_tables",
    "read_influencers",
    "read_posts",
    "read_truth",
    "reading_notes",
    "write_market",
]
