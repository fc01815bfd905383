"""The pair frame: the contract between the tables and the models.

One row per (campaign, creator): the creator's columns as they are and the
campaign's under a `campaign_` prefix. `pair_frame`, `attach_campaigns` and
`cross_pairs` build it; `campaign_column` and `objectives` read it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.contract._frames import one_campaign_to_repeat, with_the_campaign
from recommender.contract.accounts import account
from recommender.contract.tables import CAMPAIGN_PREFIX, CAMPAIGNS, CREATORS, DEFAULT_OBJECTIVE


def pair_columns() -> list[tuple[str, bool, bool]]:
    """(name, numeric, required) of every contract column a pair frame can hold."""
    columns = [("campaign_id", False, True)]
    columns += [(c.name, c.numeric, c.required) for c in CREATORS.columns]
    columns += [
        (f"{CAMPAIGN_PREFIX}{c.name}", c.numeric, c.required)
        for c in CAMPAIGNS.columns
        if c.name != "campaign_id"
    ]
    return columns


def require_pair_frame(X: object, who: str) -> pd.DataFrame:
    """X, when it is a DataFrame: what reads a pair frame reads its columns by name."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"{who} takes a pair frame (a pandas DataFrame with the contract's columns), "
            f"not {type(X).__name__}"
        )
    return X


def pair_frame(
    creators: pd.DataFrame, campaigns: pd.DataFrame, pairs: pd.DataFrame
) -> pd.DataFrame:
    """Rows of `pairs` (campaign_id, creator_id, any outcome columns) joined with both tables.

    Campaign columns other than campaign_id come prefixed with `campaign_`. A pair's
    creator_id comes spelled as `creators` spells the account (an outcome of '@Handle'
    is creator 'handle's, see `account`).
    """
    ids = pairs["creator_id"]
    unmatched = ~ids.isin(creators["creator_id"]).to_numpy(dtype=bool)
    if unmatched.any():
        pairs = pairs.assign(creator_id=_spelled_as(ids, unmatched, creators["creator_id"]))
    return _joined_pairs(creators, campaigns, pairs)


def _spelled_as(ids: pd.Series, unmatched: np.ndarray, spellings: pd.Series) -> pd.Series:
    """`ids`, those `unmatched` spelled as the first of `spellings` that names the same
    account (left as they are where none does)."""
    named = pd.Series(spellings.to_numpy(), index=account(spellings).to_numpy())
    named = named[~named.index.duplicated()]
    found = account(ids[unmatched]).map(named)
    spelled = ids.copy()
    spelled[unmatched] = found.where(found.notna(), ids[unmatched]).to_numpy()
    return spelled


def _joined_pairs(
    creators: pd.DataFrame, campaigns: pd.DataFrame, pairs: pd.DataFrame
) -> pd.DataFrame:
    """pair_frame of pairs that name each creator as `creators` spells it."""
    creator_cols = [c for c in creators.columns if c not in pairs.columns or c == "creator_id"]
    out = pairs.merge(creators[creator_cols], on="creator_id", how="left", validate="many_to_one")
    return attach_campaigns(out, campaigns)


def attach_campaigns(rows: pd.DataFrame, campaigns: pd.DataFrame) -> pd.DataFrame:
    """Rows with a campaign_id, joined with their campaign's columns (prefixed `campaign_`)."""
    prefixed = campaigns.rename(
        columns={c: f"{CAMPAIGN_PREFIX}{c}" for c in campaigns.columns if c != "campaign_id"}
    )
    return rows.merge(prefixed, on="campaign_id", how="left", validate="many_to_one")


def cross_pairs(creators: pd.DataFrame, campaigns: pd.DataFrame) -> pd.DataFrame:
    """Every creator for every campaign, as a pair frame."""
    if one_campaign_to_repeat(creators, campaigns):
        return with_the_campaign(creators, campaigns)
    ids = pd.MultiIndex.from_product(
        [campaigns["campaign_id"], creators["creator_id"]], names=["campaign_id", "creator_id"]
    ).to_frame(index=False)
    return _joined_pairs(creators, campaigns, ids)


def campaign_column(pairs: pd.DataFrame, name: str, default: object = pd.NA) -> pd.Series:
    """A campaign's column in a pair frame (`default` everywhere when it is absent)."""
    column = f"{CAMPAIGN_PREFIX}{name}"
    if column in pairs.columns:
        return pairs[column]
    return pd.Series(default, index=pairs.index, dtype=object)


def objectives(pairs: pd.DataFrame) -> np.ndarray:
    """Each pair's campaign objective, lower case, the default where none is given."""
    given = campaign_column(pairs, "objective").astype("string").str.lower()
    return given.fillna(DEFAULT_OBJECTIVE).to_numpy(dtype=object)
