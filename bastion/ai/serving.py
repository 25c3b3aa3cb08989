"""Model serving: a model loaded once per process at start-up and released at shutdown, its
inference run off the event loop in dynamic micro-batches, behind a bounded queue and a
per-request deadline.

    def load() -> RandomForestClassifier:                 # runs once, in the worker
        return joblib.load("iris.joblib")

    def predict(model: RandomForestClassifier, rows: list[list[float]]) -> list[str]:
        return model.predict(rows).tolist()               # one call for the whole batch

    iris = ServedModel(load, predict, name="iris", max_batch=32, max_wait_ms=2)
    app = App(plugins=[iris])

    @app.post("/predict")
    async def classify(flower: Flower, model: ServedModel) -> dict[str, str]:
        return {"species": await model.predict(flower.features)}

Why batching: a model library pays a fixed cost per call (input checks, dispatch, a Python
loop over trees) that dwarfs the cost per row on small inputs; 32 rows in one call cost about
what one row does. What a request can meet: ``ModelBusy`` (503 with ``Retry-After``) when
``max_queue`` inputs already wait or the model is not serving, ``ModelTimeout`` (504) after
``timeout`` seconds, ``ModelFailed`` (500) when the model raised on its input; each is a
problem+json answer, the traceback stays in the server log.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, Literal, TypeVar

from bastion.ai._serving_batcher import Batcher, ModelBusy, ModelFailed, ModelStats
from bastion.ai._serving_workers import Slot, make_slots
from bastion.di.depends import Depends
from bastion.exceptions import ConfigurationError, HTTPError

__all__ = ["ModelBusy", "ModelFailed", "ModelStats", "ModelTimeout", "ServedModel"]

M = TypeVar("M")
In = TypeVar("In")
Out = TypeVar("Out")
logger = logging.getLogger("bastion.ai")


class ModelTimeout(HTTPError):
    """504: the model did not answer within the request's timeout. Not 503: the request was
    accepted and may have run; 503 means it was turned away before any work."""

    status_code = 504


class ServedModel(Generic[In, Out]):
    """A model behind a micro-batcher; a plugin (``App(plugins=[model])``) whose lifespan
    loads the model before the first request and releases it after the last.

    ``load()`` builds the model and ``predict(model, inputs)`` answers a list of inputs with a
    list of outputs in the same order; ``release(model)``, if given, frees what the model holds
    (a GPU context, a file). ``executor="thread"`` loads one model shared by ``workers``
    threads (for libraries that release the GIL: NumPy, scikit-learn, ONNX Runtime, PyTorch);
    ``"process"`` starts ``workers`` processes, each loading its own copy, for pure-Python
    models or to use more cores than the GIL allows. Process mode needs ``load``, ``predict``
    and ``release`` defined at module level, so the workers can import them.

    Handlers ask for it by type (``model: ServedModel``) when the app serves one model, or by
    ``Annotated[ServedModel, iris.depends]`` when it serves several; or call the object
    itself, ``await iris.predict(x)``.
    """

    def __init__(
        self,
        load: Callable[[], M],
        predict: Callable[[M, list[In]], Sequence[Out]],
        *,
        name: str = "model",
        release: Callable[[M], None] | None = None,
        executor: Literal["thread", "process"] = "thread",
        workers: int = 1,
        max_batch: int = 32,
        max_wait_ms: float = 2.0,
        max_queue: int = 256,
        timeout: float = 5.0,
        isolate_failures: bool = True,
    ) -> None:
        where = f"ServedModel(name={name!r})"
        if executor not in ("thread", "process"):
            raise ConfigurationError(f"{where}: executor={executor!r}; use 'thread' or 'process'")
        for option, value in (
            ("workers", workers),
            ("max_batch", max_batch),
            ("max_queue", max_queue),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{where}: {option}={value!r}; use a whole number >= 1")
        if not 0 <= max_wait_ms <= 10_000:
            raise ConfigurationError(
                f"{where}: max_wait_ms={max_wait_ms!r}; use 0 to 10000 "
                "(a few ms is usual: it is added to an idle request)"
            )
        if not timeout > 0:
            raise ConfigurationError(f"{where}: timeout={timeout!r}; use seconds > 0")
        if executor == "process":
            for role, fn in (("load", load), ("predict", predict), ("release", release)):
                try:
                    pickle.dumps(fn)
                except Exception as exc:
                    raise ConfigurationError(
                        f"{where}: executor='process' sends {role} to worker processes by "
                        f"reference, and {fn!r} cannot be sent ({exc}); define it at module "
                        "level (not a lambda or a nested function), or use executor='thread'"
                    ) from None
        self.load: Callable[[], Any] = load
        self.predict_batch: Callable[[Any, list[In]], Sequence[Out]] = predict
        self.release: Callable[[Any], None] | None = release
        self.name, self.executor, self.workers = name, executor, workers
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait_ms / 1000, max_queue
        self.timeout, self.isolate_failures = timeout, isolate_failures
        self._batcher: Batcher | None = None
        #: ``Annotated[ServedModel, iris.depends]`` injects this model (needed with several).
        self.depends: Any = Depends(self._provide, scope="app")

    async def _provide(self) -> ServedModel[In, Out]:
        return self

    @property
    def serving(self) -> bool:
        """True between start-up (model loaded) and shutdown."""
        return self._batcher is not None and not self._batcher.closed

    @property
    def stats(self) -> ModelStats:
        """Batches, items and batch sizes since start-up (empty before)."""
        return self._batcher.stats if self._batcher is not None else ModelStats()

    async def predict(self, item: In) -> Out:
        """The model's answer for one input, computed in a batch with other requests' inputs.

        Raises ``ModelBusy`` (503) when the queue is full or the model is not serving,
        ``ModelTimeout`` (504) after the model's ``timeout`` seconds, and
        ``ModelFailed`` (500) when the model raised on this input.
        """
        batcher = self._batcher
        if batcher is None:
            raise ModelBusy(
                f"The model {self.name!r} is not loaded; the app has not started",
                headers={"retry-after": "1"},
            )
        future = batcher.submit(item)
        seconds = self.timeout
        try:
            async with asyncio.timeout(seconds):
                result: Out = await future
        except TimeoutError:
            batcher.stats.timeouts += 1
            raise ModelTimeout(
                f"The model {self.name!r} did not answer within {seconds:g} s"
            ) from None
        return result

    # -- plugin -----------------------------------------------------------------------------------
    def on_app_init(self, app: Any) -> None:
        models = [p for p in app.plugins if isinstance(p, ServedModel)]
        names = [m.name for m in models]
        if names.count(self.name) > 1:
            raise ConfigurationError(
                f"App(plugins=[...]) has two ServedModel named {self.name!r}; give each "
                "model its own name="
            )
        if len(models) == 1:
            app.provide(ServedModel, self._provide, scope="app")
        elif models[0] is self:

            def ambiguous() -> None:
                raise ConfigurationError(
                    f"a parameter asks for ServedModel by type, and the app serves "
                    f"{len(names)} models ({', '.join(names)}); annotate it "
                    "Annotated[ServedModel, model.depends] with the model you mean"
                )

            app.provide(ServedModel, ambiguous, scope="app")
        app.lifespan_contexts.append(self._lifespan)

    @asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        slots, pool = make_slots(self.executor, self.workers, self.name)
        try:
            await self._load(slots)
            self._batcher = Batcher(
                self.name,
                slots,
                self._run,
                max_batch=self.max_batch,
                max_wait=self.max_wait,
                max_queue=self.max_queue,
                isolate=self.isolate_failures,
                reload=self._reload,
            )
            logger.info("model %r loaded (%s x%d)", self.name, self.executor, self.workers)
            yield
        finally:
            if self._batcher is not None:
                await self._batcher.close()
                slots = self._batcher.slots
            await self._release(slots)
            if pool is not None:
                pool.shutdown(wait=True)
            logger.info("model %r released", self.name)

    async def _load(self, slots: list[Slot]) -> None:
        try:
            if self.executor == "process":
                await asyncio.gather(*(slot.load(self.load) for slot in slots))
            else:
                await slots[0].load(self.load)
        except Exception as exc:
            raise ConfigurationError(
                f"ServedModel {self.name!r}: load() failed at start-up with "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        for slot in slots[1:]:
            slot.model = slots[0].model

    async def _reload(self, slot: Slot) -> None:
        await slot.load(self.load)

    async def _run(self, slot: Slot, items: list[In], isolate: bool) -> list[Any]:
        return await slot.run(self.predict_batch, items, isolate)

    async def _release(self, slots: list[Slot]) -> None:
        if self.executor == "process":
            results = await asyncio.gather(
                *(slot.release(self.release) for slot in slots), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    logger.error("model %r: release failed in a worker", self.name, exc_info=result)
        elif slots:
            for slot in slots[1:]:
                slot.model = None
            await slots[0].release(self.release)
