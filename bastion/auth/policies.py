"""Per-object authorization: a ``Policy`` per model answers "may this user do that to it?".

    @policy(Post)
    class PostPolicy(Policy):
        def update(self, user, post) -> bool:
            return post.author_id == user.id

    if can(user, "update", post): ...
    authorize(user, "update", post)      # 401 when anonymous, 403 when not allowed

An action is a method of the policy; asking about one it does not define is a programming
error (``LookupError``), never a silent "no".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from bastion.exceptions import ConfigurationError, Forbidden, Unauthorized

P = TypeVar("P", bound="type[Policy]")


class Policy:
    """Actions are methods ``(self, user, obj) -> bool``; ``before(user, action)`` may
    decide first (True or False) for every object, e.g. to let admins do anything."""

    def before(self, user: Any, action: str) -> bool | None:
        return None


class Policies:
    """A registry of policies by model class (subclasses use their parent's policy)."""

    def __init__(self) -> None:
        self._policies: dict[type, tuple[Policy, frozenset[str]]] = {}

    def register(self, model: type) -> Callable[[P], P]:
        def decorator(cls: P) -> P:
            if model in self._policies:
                raise ConfigurationError(f"{model.__name__} already has a policy")
            actions = frozenset(
                name
                for name, member in inspect.getmembers(cls, inspect.isfunction)
                if not name.startswith("_") and name != "before"
            )
            self._policies[model] = (cls(), actions)
            return cls

        return decorator

    def can(self, user: Any, action: str, obj: Any) -> bool:
        """Whether ``user`` (None when anonymous: always False) may do ``action`` to ``obj``."""
        found = next((self._policies[t] for t in type(obj).__mro__ if t in self._policies), None)
        if found is None:
            raise LookupError(f"No policy for {type(obj).__name__}: register one with @policy")
        policy, actions = found
        if action not in actions:
            known = ", ".join(sorted(actions)) or "none"
            raise LookupError(
                f"{type(policy).__name__} has no action {action!r} (actions: {known})"
            )
        if user is None:
            return False
        early = policy.before(user, action)
        if early is not None:
            return early
        return bool(getattr(policy, action)(user, obj))

    def authorize(self, user: Any, action: str, obj: Any) -> None:
        """``can`` or an error: 401 for anonymous users, 403 for the others."""
        if self.can(user, action, obj):
            return
        if user is None:
            raise Unauthorized("Authentication required")
        raise Forbidden(f"You may not {action} this {type(obj).__name__.lower()}")


#: The application's registry, used by ``policy``, ``can`` and ``authorize``.
policies = Policies()
policy = policies.register
can = policies.can
authorize = policies.authorize
