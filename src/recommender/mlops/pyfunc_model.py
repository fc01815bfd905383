"""The MLflow pyfunc model, defined from code (MLflow's models-from-code).

MLflow runs this file when it loads the model; it is not imported by the
package. Input: a pair frame (a creator's contract columns plus the campaign's,
prefixed `campaign_`, and campaign_id); output: the scored columns.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc.model import PythonModel

from recommender.contract import pair_columns
from recommender.mlops.model_store import read_model_file

NUMERIC_COLUMNS = tuple(name for name, numeric, _ in pair_columns() if numeric)


class RecommenderModel(PythonModel):
    """The Recommender behind MLflow's pyfunc interface: pairs in, predictions out."""

    def load_context(self, context: Any) -> None:
        """Load the trained Recommender shipped with the model."""
        # Through the package's loader: a model saved by an older version is refused
        # with a "retrain" message instead of failing later on a missing attribute.
        self.recommender = read_model_file(context.artifacts["recommender"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """PREDICTION_COLUMNS for each row of the pair frame `model_input`, whose numbers may
        be integers or floats (MlflowException, a 400 when served, for one that is neither)."""
        return self.recommender.predict(numbers_as_floats(model_input).reset_index(drop=True))


def numbers_as_floats(pairs: pd.DataFrame) -> pd.DataFrame:
    """`pairs` with its numeric columns as floats (missing values as NaN): integers and
    floats alike, as the signature declares them of any type. MlflowException naming the
    column and the value when one holds something else."""
    converted = {}
    for name in NUMERIC_COLUMNS:
        if name not in pairs.columns:
            continue
        values = pairs[name]
        numbers = pd.to_numeric(values, errors="coerce")
        wrong = numbers.isna() & values.notna()
        if wrong.any():
            raise MlflowException(
                f"column {name}: {values[wrong].iloc[0]!r} is not a number",
                error_code=INVALID_PARAMETER_VALUE,
            )
        converted[name] = numbers.astype(float)
    return pairs.assign(**converted)


mlflow.models.set_model(RecommenderModel())
