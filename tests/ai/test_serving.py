"""ServedModel in thread mode: batching, answers to the right caller, the bounded queue,
timeouts, model errors, start-up and shutdown; on a real scikit-learn model trained on the
iris data it ships."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import msgspec
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from bastion import App, Settings
from bastion.ai import ModelBusy, ServedModel
from bastion.exceptions import ConfigurationError
from bastion.testing import AsyncTestClient

IRIS = load_iris()
ROWS = IRIS.data.tolist()


class Row(msgspec.Struct):
    features: list[float]


def train() -> LogisticRegression:
    model = LogisticRegression(max_iter=1000)
    model.fit(IRIS.data, IRIS.target_names[IRIS.target])
    return model


def classify(model: LogisticRegression, rows: list[list[float]]) -> list[str]:
    species: list[str] = model.predict(np.asarray(rows)).tolist()
    return species


def serve(served: ServedModel[Any, Any, Any]) -> App[Any]:
    app: App[Any] = App(settings=Settings(app_name="serving"), plugins=[served])

    @app.post("/predict", status_code=200)
    async def predict(row: Row, model: ServedModel) -> dict[str, Any]:
        return {"answer": await model.predict(row.features)}

    return app


class Gate:
    """A predict that blocks its worker thread until the test opens the gate."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[Any]] = []

    def __call__(self, model: Any, items: list[Any]) -> list[Any]:
        self.batches.append(items)
        self.entered.set()
        if not self.open.wait(30):
            raise RuntimeError("the test never opened the gate")
        return [item[0] for item in items]


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 5 s")


async def test_concurrent_requests_reach_the_model_in_batches() -> None:
    sizes: list[int] = []

    def predict(model: LogisticRegression, rows: list[list[float]]) -> list[str]:
        sizes.append(len(rows))
        return classify(model, rows)

    served = ServedModel(train, predict, max_batch=16, max_wait_ms=20)
    async with AsyncTestClient(serve(served)) as client:
        answers = await asyncio.gather(
            *(client.post("/predict", json={"features": row}) for row in ROWS[:64])
        )
    assert {a.status_code for a in answers} == {200}
    assert max(sizes) > 1, sizes
    assert max(sizes) <= 16
    assert sum(sizes) == 64
    assert served.stats.largest_batch == max(sizes)
    assert served.stats.items == 64


async def test_each_caller_gets_the_answer_for_its_own_input() -> None:
    expected = classify(train(), ROWS)
    served = ServedModel(train, classify, max_batch=32, max_wait_ms=10)
    async with AsyncTestClient(serve(served)) as client:
        answers = await asyncio.gather(
            *(client.post("/predict", json={"features": row}) for row in ROWS)
        )
    assert [a.json()["answer"] for a in answers] == expected
    assert len(set(expected)) == 3  # all three species, so a mix-up would show
    assert served.stats.largest_batch > 1


async def test_a_full_queue_answers_503_problem_with_retry_after() -> None:
    gate = Gate()
    served = ServedModel(lambda: None, gate, max_batch=1, max_wait_ms=0, max_queue=2)
    async with AsyncTestClient(serve(served)) as client:
        running = asyncio.create_task(client.post("/predict", json={"features": [1.0]}))
        await asyncio.to_thread(gate.entered.wait, 10)
        queued = [
            asyncio.create_task(client.post("/predict", json={"features": [float(n)]}))
            for n in (2, 3)
        ]
        await wait_for(lambda: served._batcher is not None and len(served._batcher.queue) == 2)
        refused = await client.post("/predict", json={"features": [4.0]})
        gate.open.set()
        answers = [await running] + [await task for task in queued]
    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["retry-after"]) >= 1
    assert "2 requests waiting" in refused.json()["detail"]
    assert [a.json()["answer"] for a in answers] == [1.0, 2.0, 3.0]
    assert served.stats.rejected == 1


async def test_a_request_past_its_timeout_gets_504_and_is_not_run() -> None:
    gate = Gate()
    served = ServedModel(lambda: None, gate, max_batch=1, max_wait_ms=0, timeout=0.3)
    async with AsyncTestClient(serve(served)) as client:
        first, second = await asyncio.gather(
            client.post("/predict", json={"features": [1.0]}),
            client.post("/predict", json={"features": [2.0]}),
        )
        gate.open.set()
        after = await client.post("/predict", json={"features": [3.0]})
    assert first.status_code == second.status_code == 504
    problem = first.json()
    assert problem["status"] == 504 and "did not answer within 0.3 s" in problem["detail"]
    assert after.status_code == 200 and after.json() == {"answer": 3.0}
    # The second input timed out while queued: the model never saw it.
    assert [batch[0][0] for batch in gate.batches] == [1.0, 3.0]
    assert served.stats.timeouts == 2


def fussy(model: Any, items: list[list[float]]) -> list[float]:
    if any(item[0] < 0 for item in items):
        raise ValueError("Input contains a negative value: /secret/path/model.py line 12")
    return [item[0] * 2 for item in items]


async def test_a_model_error_fails_only_the_input_that_caused_it() -> None:
    served = ServedModel(lambda: None, fussy, max_batch=8, max_wait_ms=50)
    async with AsyncTestClient(serve(served)) as client:
        answers = await asyncio.gather(
            *(client.post("/predict", json={"features": [float(n)]}) for n in (1, -1, 2, 3))
        )
    assert [a.status_code for a in answers] == [200, 500, 200, 200]
    problem = answers[1].json()
    assert problem["detail"] == "The model could not answer this request"
    assert "secret" not in answers[1].text and "Traceback" not in answers[1].text
    assert [a.json()["answer"] for a in answers if a.status_code == 200] == [2.0, 4.0, 6.0]
    assert served.stats.largest_batch == 4  # one batch, then each input alone


async def test_without_isolation_a_failed_batch_answers_each_waiting_request() -> None:
    served = ServedModel(lambda: None, fussy, max_batch=8, max_wait_ms=50, isolate_failures=False)
    async with AsyncTestClient(serve(served)) as client:
        answers = await asyncio.gather(
            *(client.post("/predict", json={"features": [float(n)]}) for n in (1, -1, 2))
        )
    assert [a.status_code for a in answers] == [500, 500, 500]
    assert all(a.json()["title"] == "Internal Server Error" for a in answers)


async def test_predict_must_answer_every_input() -> None:
    served = ServedModel(lambda: None, lambda model, items: [], max_wait_ms=50)
    async with AsyncTestClient(serve(served)) as client:
        answers = await asyncio.gather(
            *(client.post("/predict", json={"features": [float(n)]}) for n in (1, 2))
        )
    assert [a.status_code for a in answers] == [500, 500]


async def test_the_model_is_loaded_at_startup_and_released_at_shutdown() -> None:
    events: list[str] = []

    def load() -> dict[str, str]:
        events.append("load")
        return {"weights": "w"}

    def release(model: dict[str, str]) -> None:
        events.append(f"release {model['weights']}")

    def predict(model: dict[str, str], items: list[Any]) -> Sequence[str]:
        return [model["weights"]] * len(items)

    served = ServedModel(load, predict, release=release)
    app = serve(served)
    with pytest.raises(ModelBusy, match="not loaded"):
        await served.predict([1.0])
    async with AsyncTestClient(app) as client:
        assert events == ["load"] and served.serving
        for _ in range(3):
            answer = await client.post("/predict", json={"features": [1.0]})
            assert answer.json() == {"answer": "w"}
        assert events == ["load"]
    assert events == ["load", "release w"] and not served.serving
    with pytest.raises(ModelBusy, match="shutting down"):
        await served.predict([1.0])


async def test_a_failing_load_stops_startup_with_a_sentence() -> None:
    def load() -> None:
        raise FileNotFoundError("iris.joblib")

    app = serve(ServedModel(load, classify, name="iris"))
    with pytest.raises(ConfigurationError, match=r"'iris': load\(\) failed .*iris.joblib"):
        await app.startup()
    await app.shutdown()


async def test_queued_requests_are_answered_503_at_shutdown() -> None:
    gate = Gate()
    served = ServedModel(lambda: None, gate, max_batch=1, max_wait_ms=0)
    app = serve(served)
    await app.startup()
    running = asyncio.create_task(served.predict([1.0]))
    await asyncio.to_thread(gate.entered.wait, 10)
    queued = asyncio.create_task(served.predict([2.0]))
    await asyncio.sleep(0.05)
    stopping = asyncio.create_task(app.shutdown())
    await asyncio.sleep(0.05)
    gate.open.set()
    await stopping
    assert await running == 1.0  # the batch already running finishes
    with pytest.raises(ModelBusy):
        await queued


# Module level, as handlers' annotations name them (resolved from the module's globals).
iris = ServedModel(lambda: "iris", lambda m, items: [m] * len(items), name="iris")
other = ServedModel(lambda: "other", lambda m, items: [m] * len(items), name="other")


async def test_several_models_are_asked_for_by_name() -> None:
    app: App[Any] = App(settings=Settings(app_name="two"), plugins=[iris, other])

    @app.get("/both")
    async def both(
        a: Annotated[ServedModel, iris.depends], b: Annotated[ServedModel, other.depends]
    ) -> list[str]:
        return [await a.predict(1), await b.predict(2)]

    async with AsyncTestClient(app) as client:
        assert (await client.get("/both")).json() == ["iris", "other"]

    @app.get("/which")
    async def which(model: ServedModel) -> str:
        return str(await model.predict(1))

    with pytest.raises(ConfigurationError, match=r"serves 2 models \(iris, other\)"):
        await app.startup()
    await app.shutdown()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"executor": "gpu"}, "use 'thread' or 'process'"),
        ({"max_batch": 0}, "max_batch=0; use a whole number >= 1"),
        ({"max_queue": 1.5}, "max_queue=1.5"),
        ({"max_wait_ms": -1}, "max_wait_ms=-1"),
        ({"timeout": 0}, "timeout=0"),
        ({"executor": "process"}, "define it at module level"),
    ],
)
def test_bad_options_are_refused_with_the_fix(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ServedModel(lambda: None, classify, **options)


def test_two_models_of_one_name_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="two ServedModel named 'model'"):
        App(plugins=[ServedModel(train, classify), ServedModel(train, classify)])


async def test_a_caller_that_goes_away_while_queued_is_not_run() -> None:
    gate = Gate()
    served = ServedModel(lambda: None, gate, max_batch=1, max_wait_ms=0)
    async with AsyncTestClient(serve(served)):
        running = asyncio.create_task(served.predict([1.0]))
        await asyncio.to_thread(gate.entered.wait, 10)
        gone = asyncio.create_task(served.predict([2.0]))  # a client that disconnects
        kept = asyncio.create_task(served.predict([3.0]))
        await asyncio.sleep(0.05)
        gone.cancel()
        gate.open.set()
        assert await running == 1.0 and await kept == 3.0
    assert [batch[0][0] for batch in gate.batches] == [1.0, 3.0]
