"""Documents seen before run straight on graphql-core's executor.

``Schema.execute`` builds, for every request, an execution context, a fresh instance of
every schema extension and a runner that asks each instance, for each of the four phases,
whether it overrides the hook (16 look-ups through ``inspect`` with Bastion's limits and
caches installed): about half of the time a small query costs. None of that work depends
on the request once a document has parsed and validated, and Bastion's own extensions act
only before execution (the token limit while parsing, the depth and alias rules while
validating, the parse and validation caches).

So the first time a query text is served it takes Strawberry's whole path, limits and
validation included, and a last extension (``Recorder``, entered only when the document
parsed and validated) keeps the parsed document. Later requests with the same text run it
with graphql-core's ``execute`` and the arguments ``Schema.execute`` would pass (the
schema's execution context class, operation extensions, Strawberry's awaitable check), so
resolvers, permission classes and errors behave the same. A schema with extensions or
directives of its own (tracing, masking...) always takes the whole path: they may act on
every request.
"""

from __future__ import annotations

from collections.abc import Iterator
from inspect import isawaitable
from typing import Any

from graphql import execute as graphql_execute
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.schema._graphql_core import execution_context_class_kwargs
from strawberry.types.execution import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_operation_type

from bastion.graphql._result import log_errors


class Plans:
    """Parsed, validated documents by query text, and their operations' types by (text,
    operation name); at most ``size`` of each, the oldest dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.documents: dict[str, Any] = {}
        self.operations: dict[tuple[str, str | None], tuple[Any, OperationType]] = {}

    def remember(self, query: str, document: Any) -> None:
        if query not in self.documents:
            _bounded(self.documents, self.size)
            self.documents[query] = document

    def find(self, query: str, operation_name: str | None) -> tuple[Any, OperationType] | None:
        """The document and its operation's type, or None (not seen, or no such operation:
        the whole path then answers with its own error)."""
        key = (query, operation_name)
        found = self.operations.get(key)
        if found is not None:
            return found
        document = self.documents.get(query)
        if document is None:
            return None
        try:
            kind = get_operation_type(document, operation_name)
        except Exception:  # the operation is not in the document: the whole path says so
            return None
        _bounded(self.operations, self.size)
        self.operations[key] = (document, kind)
        return document, kind


def _bounded(cache: dict[Any, Any], size: int) -> None:
    while len(cache) >= size:
        del cache[next(iter(cache))]


class Recorder(SchemaExtension):
    """Keeps the document of an operation about to execute: it parsed, and validated
    against the schema and the limits."""

    def __init__(self, *, plans: Plans, execution_context: Any = None) -> None:
        super().__init__(execution_context=execution_context)
        self.plans = plans

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and context.graphql_document is not None:
            self.plans.remember(context.query, context.graphql_document)
        yield


def eligible(schema: Any) -> bool:
    """Whether documents of ``schema`` may skip Strawberry's per-request machinery: no
    extensions or directives of its own, the default executor, and the private pieces
    ``execute`` relies on present in this Strawberry version."""
    return (
        not schema.extensions
        and not schema.directives
        and not schema.config.enable_experimental_incremental_execution
        and hasattr(schema, "_schema")
        and hasattr(schema, "_get_custom_context_kwargs")
    )


async def execute(
    schema: Any,
    document: Any,
    context: Any,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    extensions: dict[str, Any] | None,
) -> ExecutionResult:
    """``document`` executed as ``Schema.execute`` executes a validated one."""
    result: Any = graphql_execute(
        schema._schema,
        document,
        root_value=None,
        variable_values=variables,
        operation_name=operation_name,
        context_value=context,
        is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
        **execution_context_class_kwargs(schema.execution_context_class),
        **schema._get_custom_context_kwargs(extensions),
    )
    if isawaitable(result):
        result = await result
    if result.errors:
        log_errors(result.errors)
    return ExecutionResult(data=result.data, errors=result.errors)
