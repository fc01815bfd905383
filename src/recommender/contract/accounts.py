"""Which account a creator id names: `@Handle`, `handle` and `h\u0430ndle` are one.

Ids are compared after NFKC, with characters drawn as nothing removed, look-alike
Cyrillic and Greek letters read as the Latin ones, case folded and a leading `@`
stripped. Outputs keep each id as written; only comparisons use the account.
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recommender.contract._cells import as_series, stripped

# Columns holding a platform handle: ids compared as the account they name (`account`).
# Campaign ids are the brand's own codes, compared as written: a brand may tell "Q1" from
# "q1", and an outcome naming a campaign no file holds is refused, never merged quietly.
ACCOUNT_COLUMNS = ("creator_id",)


# Letters of other scripts drawn like a Latin letter (Unicode's confusables, UTS #39: the
# Cyrillic, Greek and Latin-extended letters whose prototype is one Latin letter), read as
# that letter. A handle typed on a Cyrillic keyboard, or pasted from a spoof, names the
# Latin account. Only letters outside ASCII are mapped: 'l' and '1', 'rn' and 'm' stay
# apart, as the platforms keep them apart.
_LOOK_ALIKES = {
    "a": ("CYRILLIC CAPITAL LETTER A", "CYRILLIC SMALL LETTER A", "GREEK CAPITAL LETTER ALPHA",
          "GREEK SMALL LETTER ALPHA", "LATIN SMALL LETTER ALPHA"),
    "b": ("CYRILLIC CAPITAL LETTER VE", "GREEK CAPITAL LETTER BETA"),
    "c": ("CYRILLIC CAPITAL LETTER ES", "CYRILLIC SMALL LETTER ES", "GREEK LUNATE SIGMA SYMBOL",
          "GREEK CAPITAL LUNATE SIGMA SYMBOL"),
    "d": ("CYRILLIC SMALL LETTER KOMI DE",),
    "e": ("CYRILLIC CAPITAL LETTER IE", "CYRILLIC SMALL LETTER IE", "GREEK CAPITAL LETTER EPSILON"),
    "g": ("LATIN SMALL LETTER SCRIPT G",),
    "h": ("CYRILLIC CAPITAL LETTER EN", "CYRILLIC SMALL LETTER SHHA", "GREEK CAPITAL LETTER ETA"),
    "i": ("CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I",
          "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I", "GREEK CAPITAL LETTER IOTA",
          "GREEK SMALL LETTER IOTA", "LATIN SMALL LETTER DOTLESS I"),
    "j": ("CYRILLIC CAPITAL LETTER JE", "CYRILLIC SMALL LETTER JE", "GREEK LETTER YOT",
          "LATIN SMALL LETTER DOTLESS J"),
    "k": ("CYRILLIC CAPITAL LETTER KA", "GREEK CAPITAL LETTER KAPPA"),
    "l": ("CYRILLIC LETTER PALOCHKA", "CYRILLIC SMALL LETTER PALOCHKA"),
    "m": ("CYRILLIC CAPITAL LETTER EM", "GREEK CAPITAL LETTER MU"),
    "n": ("GREEK CAPITAL LETTER NU",),
    "o": ("CYRILLIC CAPITAL LETTER O", "CYRILLIC SMALL LETTER O", "GREEK CAPITAL LETTER OMICRON",
          "GREEK SMALL LETTER OMICRON"),
    "p": ("CYRILLIC CAPITAL LETTER ER", "CYRILLIC SMALL LETTER ER", "GREEK CAPITAL LETTER RHO",
          "GREEK SMALL LETTER RHO"),
    "q": ("CYRILLIC CAPITAL LETTER QA", "CYRILLIC SMALL LETTER QA"),
    "s": ("CYRILLIC CAPITAL LETTER DZE", "CYRILLIC SMALL LETTER DZE"),
    "t": ("CYRILLIC CAPITAL LETTER TE", "GREEK CAPITAL LETTER TAU"),
    "u": ("GREEK SMALL LETTER UPSILON",),
    "v": ("GREEK SMALL LETTER NU",),
    "w": ("CYRILLIC CAPITAL LETTER WE", "CYRILLIC SMALL LETTER WE"),
    "x": ("CYRILLIC CAPITAL LETTER HA", "CYRILLIC SMALL LETTER HA", "GREEK CAPITAL LETTER CHI"),
    "y": ("CYRILLIC CAPITAL LETTER U", "CYRILLIC SMALL LETTER U",
          "CYRILLIC CAPITAL LETTER STRAIGHT U", "CYRILLIC SMALL LETTER STRAIGHT U",
          "GREEK CAPITAL LETTER UPSILON", "GREEK SMALL LETTER GAMMA"),
    "z": ("GREEK CAPITAL LETTER ZETA",),
}  # fmt: skip


AS_LATIN = {ord(unicodedata.lookup(name)): latin
             for latin, names in _LOOK_ALIKES.items() for name in names}  # fmt: skip


# Drawn as nothing: Unicode's format characters (category Cf: zero-width spaces and joiners,
# soft hyphens, direction marks, which live in planes 0, 1 and 14) and its other
# default-ignorable ones (variation selectors, the combining grapheme joiner, Hangul fillers).
_FORMAT_PLANES = (range(0x20000), range(0xE0000, 0xE1000))


_IGNORABLE = (0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, *range(0xFE00, 0xFE10),
              *range(0xE0100, 0xE01F0))  # fmt: skip


def account(ids: pd.Series) -> pd.Series:
    """The account each id names, as text that every spelling of one account shares
    (pandas "string", <NA> where missing); the id as written is not changed.

    Handles are case-insensitive on the platforms and exports write them with or without
    their '@', so an id is compared after NFKC normalisation, with the characters drawn as
    nothing (zero-width spaces and joiners, soft hyphens, direction marks) removed,
    Cyrillic and Greek letters drawn like Latin ones read as those (_LOOK_ALIKES), case
    folded, blanks and leading '@'s stripped: '@Handle', 'handle', 'hand\\u200ble' and
    'h\\u0430ndle' (a Cyrillic a) are one account.
    """
    text = stripped(ids)
    # ASCII ids (nearly all) need only their case and '@' dealt with, which Arrow does at
    # once; the others take the whole way in Python.
    plain = pc.fill_null(pc.string_is_ascii(text), True).to_numpy(zero_copy_only=False)
    folded = pc.utf8_trim_whitespace(pc.utf8_ltrim(pc.ascii_lower(text), characters="@"))
    rows = np.flatnonzero(~plain)
    if rows.size:
        spelled = text.take(pa.array(rows)).to_pylist()
        mask = np.zeros(len(text), dtype=bool)
        mask[rows] = True
        folded = pc.replace_with_mask(
            folded.combine_chunks(),
            pa.array(mask),
            pa.array([_account(t) for t in spelled], folded.type),
        )
        folded = pa.chunked_array([folded])
    return as_series(folded, ids)


def _account(text: str) -> str:
    """`account` of one id, whatever its characters."""
    text = unicodedata.normalize("NFKC", text).translate(_spelling_table())
    text = unicodedata.normalize("NFKC", text.casefold())
    return text.strip().lstrip("@").strip()


@functools.cache
def _spelling_table() -> dict[int, str | None]:
    """str.translate's table for `account`: characters drawn as nothing removed, look-alike
    letters as the Latin letter. (Made at the first id outside ASCII: it reads the
    category of 135,000 characters.)"""
    invisible = [
        c for plane in _FORMAT_PLANES for c in plane if unicodedata.category(chr(c)) == "Cf"
    ]
    return {**dict.fromkeys([*invisible, *_IGNORABLE]), **AS_LATIN}


def compared_keys(keys: pd.DataFrame) -> pd.DataFrame:
    """`keys` as keys are compared: the account columns (ACCOUNT_COLUMNS) as the account
    they name (`account`), the others as they are."""
    accounts = {c: account(keys[c]) for c in keys.columns if c in ACCOUNT_COLUMNS}
    return keys.assign(**accounts) if accounts else keys
