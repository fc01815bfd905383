"""The MLflow pyfunc model, defined from code (MLflow's models-from-code).

MLflow runs this file when it loads the model; it is not imported by the
package. Input: a pair frame (a creator's contract columns plus the campaign's,
prefixed `campaign_`, and campaign_id); output: the scored columns.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from recommender.model_store import read_model_file


class RecommenderModel(PythonModel):
    """The Recommender behind MLflow's pyfunc interface: pairs in, predictions out."""

    def load_context(self, context: Any) -> None:
        """Load the trained Recommender shipped with the model."""
        # Through the package's loader: a model saved by an older version is refused
        # with a "retrain" message instead of failing later on a missing attribute.
        self.recommender = read_model_file(context.artifacts["recommender"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """PREDICTION_COLUMNS for each row of the pair frame `model_input`."""
        return self.recommender.predict(model_input.reset_index(drop=True))


mlflow.models.set_model(RecommenderModel())
