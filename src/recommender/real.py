"""Turn the real Instagram creators of ../shared/data/real into the creators contract.

    python -m recommender.real [--src ../shared/data/real] [--out data/real/creators.parquet]

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

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.io import DataFileError, write_table

DEFAULT_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
NICHE_TYPOS = {"fasion": "fashion", "fashion 0.5": "fashion"}


def read_influencers(src: Path) -> pd.DataFrame:
    # The second line of the TSV is a row of '=' under the header.
    return pd.read_csv(src / "influencers.tsv", sep="\t", skiprows=[1])


def read_posts(src: Path) -> pd.DataFrame:
    return pd.read_csv(
        src / "posts.csv.gz",
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


def load_real_creators(src: str | Path = DEFAULT_SOURCE) -> pd.DataFrame:
    src = Path(src)
    for name in ("influencers.tsv", "posts.csv.gz"):
        if not (src / name).is_file():
            raise DataFileError(f"{src / name}: no such file (is ../shared/data/real there?)")
    return to_creators(read_influencers(src), read_posts(src))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.real", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--src", default=str(DEFAULT_SOURCE), help="folder with influencers.tsv and posts.csv.gz"
    )
    parser.add_argument("--out", default="data/real/creators.parquet")
    args = parser.parse_args(argv)
    try:
        creators = load_real_creators(args.src)
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_table(creators, args.out)
    no_posts = int(creators["avg_likes"].isna().sum())
    print(
        f"wrote {len(creators):,} real creators to {args.out} "
        f"({no_posts:,} have no post in the sample, so no likes to average)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
