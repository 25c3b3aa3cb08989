"""The iris classifier: a random forest (scikit-learn's defaults, 100 trees) trained on the
iris data scikit-learn ships, so nothing is downloaded.

``load`` and ``predict`` are module-level functions, so a ``ServedModel`` can run them in
worker processes too (``IRIS_EXECUTOR=process``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def train(path: str | Path | None = None) -> RandomForestClassifier:
    """Fit the forest on the bundled data; with ``path``, also save it there (joblib)."""
    data = load_iris()
    model = RandomForestClassifier(random_state=0)
    model.fit(data.data, data.target_names[data.target])
    if path is not None:
        joblib.dump(model, path)
    return model


def load() -> RandomForestClassifier:
    """The model saved at ``$IRIS_MODEL`` (as a deployment would), else one trained now."""
    path = os.environ.get("IRIS_MODEL")
    if path:
        model: RandomForestClassifier = joblib.load(path)
        return model
    return train()


def predict(model: Any, rows: list[list[float]]) -> list[str]:
    """One call to the model for the whole batch: a species per row, in order."""
    species: list[str] = model.predict(np.asarray(rows, dtype=np.float64)).tolist()
    return species
