"""Iris species from flower measurements, served with micro-batching.

    uvicorn examples.iris.app:app
    curl -X POST localhost:8000/predict -H 'content-type: application/json' \\
         -d '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'

The model is loaded once per process at start-up and released at shutdown. Requests arriving
together are answered by one call to the model (up to 32 of them, waiting at most 2 ms);
``IRIS_EXECUTOR=process`` runs it in a worker process instead of a thread. AI agents reach
the same route as the MCP tool ``predict`` at ``/mcp`` (docs/mcp.md), batched with the rest.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal, cast

import msgspec

from bastion import App, Settings
from bastion.ai import ServedModel
from bastion.ai.mcp import MCP
from examples.iris import model

# Centimetres: a flower part of 0 or of over a metre is a typing mistake, not an iris.
Length = Annotated[float, msgspec.Meta(gt=0, le=100)]


class Flower(msgspec.Struct, forbid_unknown_fields=True):
    sepal_length: Length
    sepal_width: Length
    petal_length: Length
    petal_width: Length

    def row(self) -> list[float]:
        return [self.sepal_length, self.sepal_width, self.petal_length, self.petal_width]


class Prediction(msgspec.Struct):
    species: str


# Loaded at start-up in each server process, released at shutdown; configured here.
iris: ServedModel[list[float], str] = ServedModel(
    model.load,
    model.predict,
    name="iris",
    executor=cast(Literal["thread", "process"], os.environ.get("IRIS_EXECUTOR", "thread")),
    max_batch=32,
    max_wait_ms=2,
    max_queue=512,
    timeout=5.0,
)
Iris = Annotated[ServedModel[list[float], str], iris.depends]

mcp = MCP(name="iris", instructions="Tell an iris flower's species from its measurements (cm).")
app: App[object] = App(settings=Settings(app_name="iris"), plugins=[iris, mcp])


@app.post("/predict", status_code=200)
@mcp.tool()
async def predict(flower: Flower, served: Iris) -> Prediction:
    """The species of one flower; answered in a batch with concurrent requests."""
    return Prediction(await served.predict(flower.row()))
