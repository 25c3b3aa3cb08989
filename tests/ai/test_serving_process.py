"""ServedModel with executor="process": each worker process loads its own model (by
reference to module-level functions), answers batches, survives a worker's death and
releases its model at shutdown."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from bastion.ai import ServedModel
from bastion.testing import AsyncTestClient
from examples.iris.model import predict as classify
from examples.iris.model import train
from tests.ai.test_serving import ROWS, serve


def load() -> Any:
    return train()


def predict_where(model: Any, rows: list[list[float]]) -> list[list[Any]]:
    """Each answer with the process that computed it, and the size of its batch."""
    if any(row[0] == 666 for row in rows):
        os._exit(3)  # a worker dying mid-batch (a segfault in a native library, the OOM killer)
    return [[species, os.getpid(), len(rows)] for species in classify(model, rows)]


def release(model: Any) -> None:
    (Path(os.environ["SERVING_TEST_DIR"]) / f"released-{os.getpid()}").write_text(
        type(model).__name__
    )


@pytest.fixture
def released_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SERVING_TEST_DIR", str(tmp_path))  # spawned workers inherit it
    return tmp_path


async def test_worker_processes_load_the_model_and_answer_in_batches(released_dir: Path) -> None:
    expected = classify(train(), ROWS)
    served = ServedModel(
        load,
        predict_where,
        release=release,
        executor="process",
        workers=2,
        max_batch=16,
        max_wait_ms=20,
        timeout=60,
    )
    async with AsyncTestClient(serve(served)) as client:
        answers = await asyncio.gather(
            *(client.post("/predict", json={"features": row}) for row in ROWS)
        )
        assert {a.status_code for a in answers} == {200}
        results = [a.json()["answer"] for a in answers]
    assert [species for species, _, _ in results] == expected
    workers = {pid for _, pid, _ in results}
    assert os.getpid() not in workers and 1 <= len(workers) <= 2
    assert max(size for _, _, size in results) > 1
    released = sorted(p.name for p in released_dir.iterdir())
    assert released == sorted(f"released-{pid}" for pid in workers) or len(released) == 2
    assert all(p.read_text() == "RandomForestClassifier" for p in released_dir.iterdir())


async def test_a_dead_worker_fails_its_batch_and_is_replaced(released_dir: Path) -> None:
    served = ServedModel(load, predict_where, executor="process", max_batch=1, timeout=180)
    async with AsyncTestClient(serve(served)) as client:
        first = await client.post("/predict", json={"features": ROWS[0]})
        dying = await client.post("/predict", json={"features": [666, 1, 1, 1]})
        assert dying.status_code == 500
        assert dying.json()["detail"] == "The model could not answer this request"
        after = await client.post("/predict", json={"features": ROWS[0]})
    assert after.status_code == 200
    assert after.json()["answer"][0] == "setosa"
    assert after.json()["answer"][1] != first.json()["answer"][1]  # a new process
