"""The data contract: tables and their columns, pair frames, validation, the accounts ids
name, and headers and numbers as people write them. Pure: frames in, frames out.

    tables      the tables (CREATORS, CAMPAIGNS, OUTCOMES), tiers, the scored columns
    pairs       the pair frame: a creator's columns beside its campaign's
    validation  validate one table, or a brand's tables together; the rejects' reasons
    duplicates  rows that repeat a key (an account), rejected
    accounts    which account an id names (@Handle is handle)
    headers     headers as exports write them, read as the contract's columns
    numbers     numbers, placeholders and spreadsheet errors as people write them
"""

from __future__ import annotations

from recommender.contract._keyset import KeySet
from recommender.contract.accounts import (
    ACCOUNT_COLUMNS,
    AS_LATIN,
    account,
    compared_keys,
)
from recommender.contract.duplicates import (
    reject_duplicates,
)
from recommender.contract.headers import (
    HEADER_SEARCH_ROWS,
    HEADER_SYNONYMS,
    HeaderMatch,
    contract_headers,
    header_key,
    header_row,
    known_headers,
    misspelt_column,
    misspelt_text,
    renamed_text,
)
from recommender.contract.numbers import (
    EXCEL_ERRORS,
    UNKNOWN_NUMBER,
    decimal_points,
    nested_cells,
    people_count,
    read_numbers,
)
from recommender.contract.pairs import (
    attach_campaigns,
    campaign_column,
    cross_pairs,
    objectives,
    pair_columns,
    pair_frame,
    require_pair_frame,
)
from recommender.contract.tables import (
    CAMPAIGN_PREFIX,
    CAMPAIGNS,
    CREATORS,
    DEFAULT_OBJECTIVE,
    DUPLICATE,
    EXPLANATION_COLUMNS,
    KEY_COLUMNS,
    LIST_SEPARATOR,
    MAX_MAGNITUDE,
    MAX_PEOPLE,
    OBJECTIVES,
    OUTCOME_COLUMNS,
    OUTCOMES,
    PLATFORMS,
    PREDICTION_COLUMNS,
    REJECT_REASON,
    SCORED_COLUMNS,
    TABLES,
    TIER_BOUNDS,
    TIERS,
    Column,
    Kind,
    Table,
    tier_of,
)
from recommender.contract.validation import (
    TABLE_COLUMN,
    Validated,
    check_columns,
    combined_rejects,
    missing_columns,
    reason_first,
    summarise,
    validate,
    validate_tables,
)

__all__ = [
    "ACCOUNT_COLUMNS",
    "AS_LATIN",
    "CAMPAIGNS",
    "CAMPAIGN_PREFIX",
    "CREATORS",
    "DEFAULT_OBJECTIVE",
    "DUPLICATE",
    "EXCEL_ERRORS",
    "EXPLANATION_COLUMNS",
    "HEADER_SEARCH_ROWS",
    "HEADER_SYNONYMS",
    "KEY_COLUMNS",
    "LIST_SEPARATOR",
    "MAX_MAGNITUDE",
    "MAX_PEOPLE",
    "OBJECTIVES",
    "OUTCOMES",
    "OUTCOME_COLUMNS",
    "PLATFORMS",
    "PREDICTION_COLUMNS",
    "REJECT_REASON",
    "SCORED_COLUMNS",
    "TABLES",
    "TABLE_COLUMN",
    "TIERS",
    "TIER_BOUNDS",
    "UNKNOWN_NUMBER",
    "Column",
    "HeaderMatch",
    "KeySet",
    "Kind",
    "Table",
    "Validated",
    "account",
    "attach_campaigns",
    "campaign_column",
    "check_columns",
    "combined_rejects",
    "compared_keys",
    "contract_headers",
    "cross_pairs",
    "decimal_points",
    "header_key",
    "header_row",
    "known_headers",
    "missing_columns",
    "misspelt_column",
    "misspelt_text",
    "nested_cells",
    "objectives",
    "pair_columns",
    "pair_frame",
    "people_count",
    "read_numbers",
    "reason_first",
    "reject_duplicates",
    "renamed_text",
    "require_pair_frame",
    "summarise",
    "tier_of",
    "validate",
    "validate_tables",
]
