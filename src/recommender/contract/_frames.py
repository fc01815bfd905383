"""Frames built from columns at once, each equal to what pandas' own joins and assignments
give for the same input. A first reading can skip this module; each function says the
input it applies to, and what it returns.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import pandas as pd

from recommender.contract.tables import CAMPAIGN_PREFIX


def one_campaign_to_repeat(creators: pd.DataFrame, campaigns: pd.DataFrame) -> bool:
    """Whether the pair frame of `creators` and `campaigns` is the creators as they are
    beside the one campaign's row repeated: pair_frame's joins would find each creator
    once and add no row, change no type and rename no column (text ids, none missing,
    no creator twice, no name in both)."""
    if len(campaigns) != 1 or "campaign_id" in creators.columns:
        return False
    creator_ids, campaign_ids = creators["creator_id"], campaigns["campaign_id"]
    if not isinstance(creator_ids.dtype, pd.StringDtype) or not isinstance(
        campaign_ids.dtype, pd.StringDtype
    ):
        return False
    prefixed = {f"{CAMPAIGN_PREFIX}{c}" for c in campaigns.columns}
    return (
        not creators.attrs
        and not campaigns.attrs
        and creators.columns.is_unique
        and campaigns.columns.is_unique
        and prefixed.isdisjoint(creators.columns)
        and not campaign_ids.hasnans
        and not creator_ids.hasnans
        and creator_ids.is_unique
    )


def with_the_campaign(creators: pd.DataFrame, campaigns: pd.DataFrame) -> pd.DataFrame:
    """cross_pairs(creators, campaigns) for one campaign (see one_campaign_to_repeat): the
    same frame, built without joins."""
    if not numbered(creators.index):
        creators = creators.reset_index(drop=True)
    # The campaign's row repeated, taken at once (not column by column), on the creators' index.
    repeated = campaigns.iloc[np.zeros(len(creators), dtype=np.intp)]
    repeated.index = creators.index
    campaign = dict(repeated.items())
    columns: dict[Hashable, pd.Series] = {"campaign_id": campaign.pop("campaign_id")}
    columns.update(creators.items())
    columns.update((f"{CAMPAIGN_PREFIX}{c}", values) for c, values in campaign.items())
    return pd.DataFrame(columns, index=creators.index, copy=False)  # (aligned: no reindexing)


def numbered(index: pd.Index) -> bool:
    """Whether `index` is what reset_index(drop=True) gives: 0, 1, 2... as a RangeIndex."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def typed_frame(frame: pd.DataFrame, typed: Mapping[str, pd.Series]) -> pd.DataFrame:
    """`frame` with the `typed` columns in place of its own (all of them aligned with it)."""
    if not frame.columns.is_unique or frame.attrs or not frame.flags.allows_duplicate_labels:
        # (a name twice, or what a frame carries besides its columns: column by column)
        out = frame.copy()
        for name, values in typed.items():
            out[name] = values
        return out
    # The same frame as setting the columns one by one, built at once. (From Series, so
    # that copy-on-write knows the columns are shared with `frame`: writing to one leaves
    # the other as it was.)
    columns = {
        name: typed[name] if isinstance(name, str) and name in typed else frame[name]
        for name in frame.columns
    }
    out = pd.DataFrame(columns, index=frame.index, copy=False)
    out.columns = frame.columns
    return out
