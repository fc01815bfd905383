"""Keys met before (earlier chunks of a file, a history), held compactly and compared
exactly: a sorted array of hashes with the keys' text in Arrow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from recommender.contract.accounts import compared_keys


def key_texts(keys: pd.DataFrame) -> np.ndarray:
    """Each row's key as one text, as keys are compared (`compared_keys`), for KeySet."""
    return joined_key(compared_keys(keys))


def joined_key(keys: pd.DataFrame) -> np.ndarray:
    """Each row's key as one text: a one-column key as it is; parts of a longer one each
    after its length, so that no two keys join to the same text."""
    columns = [keys[c].astype(str).to_numpy(dtype=object) for c in keys.columns]
    if len(columns) == 1:
        return columns[0]
    return np.array(["".join(f"{len(p)}:{p}" for p in parts)
                     for parts in zip(*columns, strict=True)], dtype=object)  # fmt: skip


def key_parts(text: str, count: int) -> list[str]:
    """The `count` parts of a key text that joined_key made."""
    if count == 1:
        return [text]
    parts, at = [], 0
    while at < len(text):
        colon = text.index(":", at)
        end = colon + 1 + int(text[at:colon])
        parts.append(text[colon + 1 : end])
        at = end
    return parts


class KeySet:
    """Keys met before (earlier chunks of a file, a history), held compactly.

    A set of millions of Python tuples costs about 150 bytes a key; this holds a
    sorted array of 64-bit hashes and the keys' text in Arrow (about 33 bytes a
    key), and checks the text of every hash it matches, so the answer is exact.
    It also keeps how each key was written where that differs from its text (an
    account spelled '@Handle': about 9 bytes more for an id of 9 characters), to
    name the first spelling to a later one.
    """

    def __init__(self, keys: pd.DataFrame | None = None) -> None:
        self._hashes = np.zeros(0, dtype=np.uint64)  # sorted
        self._where = np.zeros(0, dtype=np.int64)  # each hash's key in _texts
        self._texts: list[pa.Array] = []
        self._written: list[pa.Array] = []  # beside _texts: the key as written, or null
        self._count = 0
        if keys is not None:
            keys = keys.dropna()  # (a key missing a part names nothing a valid row could)
            texts, written = key_texts(keys), joined_key(keys)
            new = ~self.met(texts)
            written[written == texts] = None  # (as compared, as written: the text alone)
            self.add(texts[new], written[new])

    def __len__(self) -> int:
        return self._count

    def met(self, texts: np.ndarray) -> np.ndarray:
        """For each key text, whether it was added before."""
        return self._positions(texts) >= 0

    def written(self, texts: np.ndarray) -> list[str]:
        """How each key text (all added before) was written when it was added."""
        at = self._positions(texts)
        written = taken(self._written, at)
        return [
            str(t) if w is None else w for t, w in zip(taken(self._texts, at), written, strict=True)
        ]

    def add(self, texts: np.ndarray, written: np.ndarray | None = None) -> None:
        """Add key texts not met before (and distinct among themselves); `written`: each
        key as written where that differs from its text, None elsewhere."""
        if not len(texts):
            return
        hashes = hashed(texts)
        order = np.argsort(hashes, kind="stable")
        at = np.searchsorted(self._hashes, hashes[order])
        self._hashes = np.insert(self._hashes, at, hashes[order])
        self._where = np.insert(self._where, at, self._count + order)
        self._texts.append(pa.array(texts, type=pa.string()))
        spelled = pa.nulls(len(texts), pa.string()) if written is None else written
        self._written.append(pa.array(spelled, type=pa.string()))
        self._count += len(texts)

    def _positions(self, texts: np.ndarray) -> np.ndarray:
        """For each key text, where in _texts it was added (-1 where it was not)."""
        at = np.full(len(texts), -1, dtype=np.int64)
        if not self._count or not len(texts):
            return at
        hashes = hashed(texts)
        left = np.searchsorted(self._hashes, hashes, side="left")
        right = np.searchsorted(self._hashes, hashes, side="right")
        one = np.flatnonzero(right - left == 1)  # one key of that hash: compare the text
        where = self._where[left[one]]
        same = np.asarray(taken(self._texts, where), dtype=object) == texts[one]
        at[one[same]] = where[same]
        for row in np.flatnonzero(right - left > 1).tolist():  # a hash two keys share
            candidates = self._where[left[row] : right[row]]
            stored = taken(self._texts, candidates)
            at[row] = next(
                (w for w, t in zip(candidates, stored, strict=True) if t == texts[row]), -1
            )
        return at


def taken(arrays: list[pa.Array], where: np.ndarray) -> list[str | None]:
    """The texts at positions `where` of `arrays` read as one."""
    chunked = pa.chunked_array(arrays, type=pa.string())
    texts: list[str | None] = chunked.take(pa.array(where)).to_pylist()
    return texts


def hashed(texts: np.ndarray) -> np.ndarray:
    """Each text's 64-bit hash (equal texts, equal hashes; the set compares the texts too)."""
    return pd.util.hash_array(np.asarray(texts, dtype=object), categorize=False)
