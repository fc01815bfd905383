from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from recommender import contract
from recommender.datasets.real import load_real_creators
from recommender.errors import DataFileError

REAL_DATA = Path(__file__).resolve().parents[2] / "data" / "external" / "instagram"

INFLUENCERS = """Username\tCategory\t#Followers\t#Followees\t#Posts
==========================================
anna\tFashion\t2000\t150\t300
bo\tfasion\t50000\t10\t20
cy\tpet\t1500\t90\t45
"""
POSTS = """\
username,shortcode,taken_at,likes,comments,is_video,video_views,\
paid_partnership,sponsors,caption_ad_tag,caption
anna,a1,2019-01-01T00:00:00Z,100,4,0,,0,,0,hello
anna,a2,2019-01-02T00:00:00Z,60,2,1,900,1,brand,0,"new, #ad"
anna,a3,2019-01-03T00:00:00Z,80,3,0,,0,,1,#gifted
bo,b1,2019-01-01T00:00:00Z,1000,10,0,,0,,0,x
ghost,g1,2019-01-01T00:00:00Z,5,0,0,,0,,0,not in influencers
"""


@pytest.fixture
def source(tmp_path):
    (tmp_path / "influencers.tsv").write_text(INFLUENCERS)
    with gzip.open(tmp_path / "posts.csv.gz", "wt") as handle:
        handle.write(POSTS)
    return tmp_path


def test_hand_checked_rows(source):
    creators = load_real_creators(source).set_index("creator_id")
    assert creators.loc["anna", "avg_likes"] == 80.0
    assert creators.loc["anna", "avg_comments"] == 3.0
    assert creators.loc["anna", "avg_views"] == 900.0
    assert creators.loc["anna", "recent_posts"] == 3
    assert creators.loc["anna", "recent_sponsored_posts"] == 2  # partnership tag + ad hashtag
    assert creators.loc["anna", "niche"] == "fashion"
    assert creators.loc["bo", "niche"] == "fashion"  # typo mended
    assert creators.loc["bo", "following"] == 10
    assert pd.isna(creators.loc["cy", "avg_likes"])  # no posts: left empty, not invented
    assert "ghost" not in creators.index


def test_accounts_without_posts_are_rejected_with_a_reason(source):
    checked = contract.validate(load_real_creators(source), contract.CREATORS)
    assert checked.valid["creator_id"].tolist() == ["anna", "bo"]
    assert checked.rejects["reject_reason"].item() == (
        "avg_likes: required value missing; avg_comments: required value missing"
    )


def test_the_real_data_loads_into_the_contract():
    creators = load_real_creators(REAL_DATA)
    assert len(creators) == 33_935
    checked = contract.validate(creators, contract.CREATORS)
    assert checked.counts[0] > 22_000
    assert set(checked.rejects["reject_reason"]) == {
        "avg_likes: required value missing; avg_comments: required value missing"
    }
    assert set(checked.valid["niche"]) == {
        "fashion", "other", "travel", "family", "food", "beauty", "interior", "fitness", "pet",
    }  # fmt: skip


def test_the_default_source_is_the_configured_folder(source, monkeypatch):
    monkeypatch.setenv("CREATOR_RECOMMENDER_REAL_DATA", str(source))
    assert len(load_real_creators()) == 3
    monkeypatch.setenv("CREATOR_RECOMMENDER_REAL_DATA", str(source / "nowhere"))
    with pytest.raises(DataFileError, match=r"nowhere/influencers\.tsv: no such file"):
        load_real_creators()
