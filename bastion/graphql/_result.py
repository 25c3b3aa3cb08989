"""Execution results as GraphQL response documents, with unexpected errors masked.

A resolver's ``HTTPError`` below 500 (``NotFound``, ``Forbidden`` from ``authorize``...) is
meant for the client: its detail becomes the message and its status an extension. Any other
exception is a bug: outside debug its message becomes "Internal server error"; it is logged
with its traceback on the ``bastion.graphql`` logger (the client's mistakes at DEBUG only).
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from bastion.exceptions import HTTPError

MASKED = "Internal server error"
logger = logging.getLogger("bastion.graphql")


def unexpected(error: GraphQLError) -> bool:
    """A bug (logged with its traceback), not the client's mistake or a refusal."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return not (isinstance(original, HTTPError) and original.status_code < 500)


def log_errors(errors: list[GraphQLError], execution_context: Any = None) -> None:
    """Replaces Strawberry's ``process_errors``, which logs every error, a syntax error or a
    refused permission included, at ERROR with a traceback: only bugs are errors here."""
    for error in errors:
        if unexpected(error):
            logger.error("GraphQL resolver failed: %s", error, exc_info=error.original_error)
        else:
            logger.debug("GraphQL error: %s", error.message)


def format_error(error: GraphQLError, debug: bool) -> dict[str, Any]:
    original = error.original_error
    doc: dict[str, Any] = dict(error.formatted)
    if original is None or isinstance(original, GraphQLError):
        return doc
    if not unexpected(error) and isinstance(original, HTTPError):
        doc["message"] = original.detail
        extensions = dict(doc.get("extensions") or {})
        extensions["status"] = original.status_code
        doc["extensions"] = extensions
        return doc
    if not debug:
        doc["message"] = MASKED
        doc.pop("extensions", None)
    return doc


def response_document(result: Any, debug: bool, *, executed: bool) -> dict[str, Any]:
    """``{"data", "errors", "extensions"}``; ``data`` is absent when nothing executed."""
    doc: dict[str, Any] = {}
    if result.errors:
        doc["errors"] = [format_error(e, debug) for e in result.errors]
    if executed:
        doc["data"] = result.data
    if result.extensions:
        doc["extensions"] = result.extensions
    return doc
