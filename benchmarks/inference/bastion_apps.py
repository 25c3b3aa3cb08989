"""The iris model on Bastion, three ways, for ``benchmarks/inference/run``:

- ``batched``: ``ServedModel`` (examples/iris), requests gathered into micro-batches run in a
  worker thread: the way docs/model-serving.md teaches;
- ``per_request``: no batching, the model from an app-scoped dependency and a sync handler
  (run in the thread pool) calling ``model.predict`` per request, as FastAPI's docs do;
- ``batch_of_one``: ``ServedModel(max_batch=1)``: the batcher's path without batching, to
  show what the queue and hand-off cost on their own.

The model is the file ``$IRIS_MODEL`` (joblib), as trained by ``run`` with this venv's
scikit-learn; every app loads it once at start-up.
"""

from typing import Annotated, Any

import msgspec

from bastion import App, Depends, Settings
from bastion.ai import ServedModel
from examples.iris.model import load, predict

# examples/iris/app.py's body and answer (not imported: that app also loads the mcp extra).
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


def batched_app(**options: Any) -> App[object]:
    served: ServedModel[list[float], str] = ServedModel(load, predict, name="iris", **options)
    app: App[object] = App(settings=Settings(app_name="bench"), plugins=[served])

    @app.post("/predict", status_code=200)
    async def classify(flower: Flower, model: ServedModel) -> Prediction:
        return Prediction(await model.predict(flower.row()))

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        counts = served.stats
        return {
            "batches": counts.batches,
            "items": counts.items,
            "rejected": counts.rejected,
            "timeouts": counts.timeouts,
            "largest": counts.largest_batch,
        }

    return app


def per_request_app() -> App[object]:
    Model = Annotated[Any, Depends(load, scope="app")]
    app: App[object] = App(settings=Settings(app_name="bench"))

    @app.post("/predict", status_code=200)
    def classify(flower: Flower, model: Model) -> Prediction:
        return Prediction(str(model.predict([flower.row()])[0]))

    return app


batched = batched_app(max_batch=32, max_wait_ms=2, max_queue=1024, timeout=30)
batch_of_one = batched_app(max_batch=1, max_wait_ms=0, max_queue=1024, timeout=30)
per_request = per_request_app()
