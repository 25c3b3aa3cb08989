"""Persisted queries by SHA-256 hash, as Apollo's automatic persisted queries (APQ) send them.

A client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": ...}`` without the
query; an unknown hash is answered with the ``PERSISTED_QUERY_NOT_FOUND`` GraphQL error, and the
client retries with the query and the hash, which the server checks and keeps. The store is
per process and bounded (least recently used out), so a client can never grow it without end;
a process that has not seen a hash simply asks for the query once.

``PersistedQueries(queries={hash: query, ...}, only=True)`` is an allow-list instead: the
server runs those documents and nothing else, and learns none.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from bastion.exceptions import BadRequest, ConfigurationError

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


class PersistedQueryNotFound(Exception):
    """The hash is unknown here: the client should send the query with it."""


def sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def _bad(field: str, reason: str) -> BadRequest:
    return BadRequest(f"{field}: {reason}", extra={"errors": [{"field": field, "reason": reason}]})


class PersistedQueries:
    """Documents by hash: learned from clients (APQ), or a fixed allow-list with ``only``."""

    def __init__(
        self,
        queries: Mapping[str, str] | None = None,
        *,
        only: bool = False,
        max_entries: int = 1_000,
    ) -> None:
        if max_entries < 1:
            raise ConfigurationError(f"PersistedQueries(max_entries={max_entries}) must be >= 1")
        self._queries: OrderedDict[str, str] = OrderedDict()
        for digest, query in (queries or {}).items():
            if sha256(query) != digest.lower():
                raise ConfigurationError(
                    f"PersistedQueries: the hash {digest} is not the SHA-256 of its query; "
                    "compute it with hashlib.sha256(query.encode()).hexdigest()"
                )
            self._queries[digest.lower()] = query
        self.only = only
        self.max_entries = max(max_entries, len(self._queries))

    def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The document to run; raises ``PersistedQueryNotFound`` or a 400 ``BadRequest``."""
        persisted = extensions.get("persistedQuery") if extensions else None
        if persisted is None:
            if self.only and query is not None:
                raise _bad(
                    "body.query",
                    "this endpoint runs persisted queries only: send "
                    "extensions.persistedQuery.sha256Hash instead",
                )
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise _bad("body.extensions.persistedQuery", "expected {version: 1, sha256Hash}")
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or len(digest) != 64:
            raise _bad("body.extensions.persistedQuery.sha256Hash", "expected 64 hex digits")
        digest = digest.lower()
        if query is None:
            found = self._queries.get(digest)
            if found is None:
                raise PersistedQueryNotFound(digest)
            self._queries.move_to_end(digest)
            return found
        if sha256(query) != digest:
            raise _bad("body.extensions.persistedQuery.sha256Hash", "does not match the query")
        if self.only:
            if digest not in self._queries:
                raise _bad("body.query", "this query is not in the allow-list")
            return query
        self._queries[digest] = query
        self._queries.move_to_end(digest)
        while len(self._queries) > self.max_entries:
            self._queries.popitem(last=False)
        return query
