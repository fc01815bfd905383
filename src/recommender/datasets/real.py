"""Turn the research dataset of real Instagram creators into the creators contract.

    creator-recommender real [--src data/external/instagram] [--out data/real/creators.parquet]

avg_likes and avg_comments are means over the creator's posts in the sample;
recent_posts and recent_sponsored_posts count those posts and the sponsored
ones among them (Instagram's paid-partnership tag or an ad hashtag in the
caption), so their ratio is the creator's sponsored share. The sample holds
one to eight posts per creator, so that share is thin; the counts say how thin.
niche is the source's Category, with its two typos mended. What the source
does not know (audience, growth, price) is left empty; creators with no post in
the sample keep empty avg_likes/avg_comments, so validation rejects them with
that reason rather than letting them vanish.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recommender import config
from recommender.errors import DataFileError

NICHE_TYPOS = {"fasion": "fashion", "fashion 0.5": "fashion"}


def read_influencers(src: str | Path) -> pd.DataFrame:
    """The dataset's influencer table, as it is."""
    # The second line of the TSV is a row of '=' under the header.
    return pd.read_csv(Path(src) / "influencers.tsv", sep="\t", skiprows=[1])


def read_posts(src: str | Path) -> pd.DataFrame:
    """The columns of the dataset's posts that the creators contract needs."""
    return pd.read_csv(
        Path(src) / "posts.csv.gz",
        usecols=["username", "likes", "comments", "is_video", "video_views",
                 "paid_partnership", "caption_ad_tag"],
    )  # fmt: skip


def to_creators(influencers: pd.DataFrame, posts: pd.DataFrame) -> pd.DataFrame:
    """Creators contract rows, one per influencer account, in the source's order."""
    posts = posts.assign(
        sponsored=(posts["paid_partnership"].fillna(0) > 0)
        | (posts["caption_ad_tag"].fillna(0) > 0),
        video_views=posts["video_views"].where(posts["is_video"].fillna(0) > 0),
    )
    per_creator = posts.groupby("username").agg(
        avg_likes=("likes", "mean"),
        avg_comments=("comments", "mean"),
        avg_views=("video_views", "mean"),
        recent_posts=("likes", "size"),
        recent_sponsored_posts=("sponsored", "sum"),
    )
    category = influencers["Category"].astype(str).str.strip().str.lower()
    creators = pd.DataFrame(
        {
            "creator_id": influencers["Username"].astype(str),
            "platform": "instagram",
            "followers": influencers["#Followers"].astype(np.int64),
            "niche": category.replace(NICHE_TYPOS),
            "following": influencers["#Followees"].astype(np.int64),
            "account_posts": influencers["#Posts"].astype(np.int64),  # extra: passes through
        }
    )
    creators = creators.join(per_creator, on="creator_id")
    for col in ("recent_posts", "recent_sponsored_posts"):
        creators[col] = creators[col].astype("Int64")
    creators["avg_likes"] = creators["avg_likes"].round(1)
    creators["avg_comments"] = creators["avg_comments"].round(1)
    contract_order = [
        "creator_id", "platform", "followers", "avg_likes", "avg_comments", "niche",
        "following", "avg_views", "recent_posts", "recent_sponsored_posts", "account_posts",
    ]  # fmt: skip
    return creators[contract_order]


def load_real_creators(src: str | Path | None = None) -> pd.DataFrame:
    """The real creators in the creators contract, from the dataset's folder
    (by default config.settings().real_data)."""
    src = Path(src) if src is not None else config.settings().real_data
    for name in ("influencers.tsv", "posts.csv.gz"):
        if not (src / name).is_file():
            raise DataFileError(f"{src / name}: no such file (the dataset's folder is --src)")
    return to_creators(read_influencers(src), read_posts(src))
