"""JSON tables: an array of objects, one object, JSON Lines, or an API's answer wrapping
the array; a key given twice refuses the file, and a number too long for a float
stays its text.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import pandas as pd

from recommender.errors import DataFileError
from recommender.io._csv import LEGACY_BYTES


class RepeatedKey(Exception):
    """A JSON object giving one key twice: which of its values was meant cannot be known."""


def read_json(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A JSON array of objects, one JSON object, JSON Lines (one object per line), or an
    API's answer wrapping the array in an object of one key ({"data": [...]})."""
    with open(path, encoding="utf-8-sig", errors=LEGACY_BYTES) as handle:
        text = handle.read()
    if not text.strip():
        raise DataFileError(f"{path}: file is empty")
    try:
        whole = _json_value(text)
    except json.JSONDecodeError:
        records = _json_lines(path, text)
    except RepeatedKey as exc:
        raise DataFileError(f"{path}: an object gives {exc} twice; keep one") from None
    else:
        if isinstance(whole, dict) and len(whole) == 1:
            (inner,) = whole.values()
            whole = inner if isinstance(inner, list) else whole
        records = whole if isinstance(whole, list) else [whole]
    if not all(isinstance(r, dict) for r in records):
        raise DataFileError(f"{path}: expected JSON objects, one per row (or an array of them)")
    # Ids such as "007" must stay text: build the frame as objects, let validation type it.
    return pd.DataFrame.from_records(records).astype(object) if records else pd.DataFrame()


def _json_lines(path: str | os.PathLike[str], text: str) -> list[Any]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(_json_value(line))
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path}: line {number} is not JSON: {exc.msg}") from None
        except RepeatedKey as exc:
            raise DataFileError(f"{path}: line {number} gives {exc} twice; keep one") from None
    return records


def _json_value(text: str) -> Any:
    """JSON text's value; a number no Python int or float holds (5,000 digits) stays its
    text, for validation to refuse on its row; RepeatedKey for a key given twice."""
    try:
        return json.loads(text, object_pairs_hook=_json_object, parse_float=_json_float)
    except json.JSONDecodeError:
        raise
    except ValueError:  # an int of more digits than Python converts: read again, slower
        return json.loads(text, object_pairs_hook=_json_object, parse_int=_json_int,
                          parse_float=_json_float)  # fmt: skip


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) < len(pairs):
        keys = [key for key, _ in pairs]
        raise RepeatedKey(repr(next(key for key in keys if keys.count(key) > 1)))
    return record


def _json_int(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:  # more digits than Python converts
        return text


def _json_float(text: str) -> float | str:
    value = float(text)
    return text if math.isinf(value) else value
