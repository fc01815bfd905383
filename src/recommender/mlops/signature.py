"""What an MLflow model of ours takes and gives: its signature, and pair rows made to fit it.

example = as_model_input(pairs, rows=3)       # the input example logged with a model
mlflow.pyfunc.load_model(uri).predict(as_model_input(pairs))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recommender import contract


def signature() -> Any:
    """The pyfunc's signature: a pair frame in, the prediction columns out.

    Numeric columns are declared of any type: MLflow converts no int64 column to a
    declared double, nor a float to a declared long, and the contract's counts come as
    integers or, with a missing value, as floats. The model turns them into floats
    itself and refuses what is no number (pyfunc_model.numbers_as_floats)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    number = AnyType()  # type: ignore[no-untyped-call]
    inputs = Schema(
        [
            ColSpec(number if numeric else "string", name, required=required)
            for name, numeric, required in contract.pair_columns()
        ]
    )
    out_types = {"campaign_id": "string", "creator_id": "string", "tier": "string"}
    outputs = Schema([ColSpec(out_types.get(c, "double"), c) for c in contract.PREDICTION_COLUMNS])
    return ModelSignature(inputs=inputs, outputs=outputs)


def as_model_input(pairs: pd.DataFrame, rows: int | None = None) -> pd.DataFrame:
    """Pair rows with exactly the signature's columns and types (all rows, or the first `rows`)."""
    rows = len(pairs) if rows is None else rows
    example = pd.DataFrame(index=pairs.index[:rows])
    for name, numeric, _ in contract.pair_columns():
        values = (
            pairs[name].iloc[:rows]
            if name in pairs.columns
            else pd.Series(np.nan, index=example.index)
        )
        if numeric:
            example[name] = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
        else:
            example[name] = values.astype(object).where(values.notna(), None).to_numpy()
    return example.reset_index(drop=True)
