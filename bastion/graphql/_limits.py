"""Limits on what one document may ask, checked before anything executes.

Each limit is one of Strawberry's own schema extensions, installed as a factory so each
operation gets a fresh instance (an instance shared by concurrent requests would share its
execution context). ``max_tokens`` bounds the parser's work itself, so a huge or deeply
nested document is refused while it is read, before any recursion gets deep.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from bastion.exceptions import ConfigurationError


@dataclass(frozen=True)
class Limits:
    """``Limits(max_depth=12, max_aliases=30, max_tokens=2_000)``; None turns one off.

    The defaults let GraphiQL's introspection query through (the depth limit ignores
    introspection fields) and refuse the classic hostile documents: deep nesting, thousands
    of aliases of one expensive field, megabyte-long queries.
    """

    max_depth: int | None = 12
    max_aliases: int | None = 30
    max_tokens: int | None = 2_000

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_aliases", "max_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigurationError(
                    f"Limits({name}={value!r}): give a positive whole number, or None to turn "
                    "this limit off"
                )

    def extensions(self) -> list[Any]:
        """Strawberry extension factories enforcing these limits.

        The validation rules are built here, once: Strawberry's ``QueryDepthLimiter`` and
        ``MaxAliasesLimiter`` create a new rule class in every instance, which per request
        costs more than the query and defeats the validation cache.
        """
        from strawberry.extensions import AddValidationRules, MaxTokensLimiter
        from strawberry.extensions.max_aliases import create_validator as alias_rule
        from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

        rules: list[Any] = []
        if self.max_depth is not None:
            rules.append(depth_rule(self.max_depth, None, None))
        if self.max_aliases is not None:
            rules.append(alias_rule(self.max_aliases))
        found: list[Any] = []
        if self.max_tokens is not None:
            found.append(partial(MaxTokensLimiter, max_token_count=self.max_tokens))
        if rules:
            found.append(partial(AddValidationRules, rules))
        return found


def caches(size: int) -> list[Any]:
    """Parsed and validated documents kept by query text (LRU, ``size`` each): a client
    repeating its queries skips the parser and the validator. A document refused by the
    parser is never kept."""
    from strawberry.extensions import ParserCache, ValidationCache

    return [partial(ParserCache, maxsize=size), partial(ValidationCache, maxsize=size)]
