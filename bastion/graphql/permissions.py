"""The auth guards and policies as Strawberry permission classes.

    @strawberry.type
    class Query:
        @strawberry.field(permission_classes=[IsAuthenticated])
        async def me(self, info: Info[Context, None]) -> User: ...

        @strawberry.field(permission_classes=[requires("admin")])
        async def audit(self) -> list[Entry]: ...

    @strawberry.type
    class Article:
        @strawberry.field(permission_classes=[allowed("read_drafts")])
        def draft(self) -> str: ...        # the policy of the Article decides

They read the request's ``Authentication`` through the app's ``AuthPlugin`` (once per request,
however many fields ask), as ``CurrentUser`` and ``requires`` do on routes. A refusal is a
GraphQL error on that field with ``extensions.status`` 401 or 403; the rest of the query runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from bastion.exceptions import ConfigurationError
from bastion.graphql._context import Context


def _context(info: Info[Any, Any]) -> Context:
    context = info.context
    if not isinstance(context, Context):
        raise ConfigurationError(
            "GraphQL permissions need info.context to be a bastion.graphql.Context; serve the "
            "schema with GraphQL(schema, context=...) returning one"
        )
    return context


class NeedsAuthentication(BasePermission):
    """The base of Bastion's permission classes: an app serving a schema that uses one must
    have an ``AuthPlugin``, checked at start-up."""


class IsAuthenticated(NeedsAuthentication):
    """Anyone signed in."""

    message = "Authentication required"
    error_extensions = {"status": 401}

    async def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        auth = await _context(info).authentication()
        return auth.user is not None


def uses_authentication(schema: Any) -> bool:
    """Whether a field of ``schema`` asks one of these permission classes."""
    for graphql_type in schema.schema_converter.type_map.values():
        definition = getattr(graphql_type, "definition", None)
        for field in getattr(definition, "fields", None) or ():
            for permission in getattr(field, "permission_classes", None) or ():
                if isinstance(permission, type) and issubclass(permission, NeedsAuthentication):
                    return True
    return False


def requires(*roles: str, scopes: Iterable[str] = ()) -> type[BasePermission]:
    """A permission class: signed in, with every role in ``roles`` and every scope."""
    needed_roles, needed_scopes = frozenset(roles), frozenset(scopes)
    if not needed_roles and not needed_scopes:
        raise ConfigurationError("graphql.requires() needs a role or a scope; or IsAuthenticated")
    what = ", ".join(sorted(needed_roles) + [f"scope {s}" for s in sorted(needed_scopes)])

    class Requires(NeedsAuthentication):
        message = f"This needs {what}"
        error_extensions = {"status": 403}

        async def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
            auth = await _context(info).authentication()
            if auth.user is None or auth.identity is None:
                return False
            if needed_roles - auth.roles():
                return False
            return not needed_scopes or auth.identity.allows(needed_scopes)

    Requires.__qualname__ = Requires.__name__ = f"requires({what})"
    return Requires


def allowed(action: str) -> type[BasePermission]:
    """A permission class for fields of a type with a registered ``Policy``: the policy's
    ``action`` decides, given the signed-in user and the object the field belongs to."""
    from bastion.auth.policies import policies

    class Allowed(NeedsAuthentication):
        message = f"You may not {action} this"
        error_extensions = {"status": 403}

        async def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
            if source is None:
                raise ConfigurationError(
                    f"allowed({action!r}) is for fields of an object type; on a root field "
                    "call bastion.auth.authorize(user, action, obj) in the resolver"
                )
            user = await _context(info).user()
            return policies.can(user, action, source)

    Allowed.__qualname__ = Allowed.__name__ = f"allowed({action})"
    return Allowed
