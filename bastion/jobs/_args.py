"""A job's signature split once into its arguments (stored as JSON) and its dependencies.

A parameter is a dependency when it says so (``Depends`` in ``Annotated`` or as default), is
annotated with a type some provider serves (``AsyncSession`` once ``SQLAlchemyPlugin`` is in
the app) or is the ``Request``; every other parameter is an argument, given to ``enqueue``
and checked there with msgspec so that bad arguments fail at the call site, not in a worker.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.di.container import provider_for
from bastion.di.depends import Depends
from bastion.exceptions import ConfigurationError, ValidationError
from bastion.http.request import Request
from bastion.params import _types as t
from bastion.params._errors import from_msgspec
from bastion.params._plan import signature_of

if TYPE_CHECKING:
    from bastion.di.container import Container

_encode = msgspec.json.encode


class InvalidJobArguments(ValidationError):
    """``enqueue`` was given arguments the job cannot take: each entry names the argument
    (``args.user_id``) and the reason. A 422 when it escapes a request handler."""


class ArgSpec:
    """The arguments of one job: how to check and encode them, and decode them in a worker."""

    __slots__ = ("args", "decoder", "dependencies", "job", "required", "struct")

    def __init__(self, job: str, fn: Callable[..., Any], container: Container | None) -> None:
        self.job = job
        signature, hints = signature_of(fn)
        providers = container.providers if container is not None else {}
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        self.dependencies: list[str] = []
        for name, parameter in signature.parameters.items():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if parameter.kind is parameter.POSITIONAL_ONLY:
                raise ConfigurationError(
                    f"job {job}: parameter `{name}` is positional-only; jobs are called with "
                    "keyword arguments, so remove the `/` from its signature"
                )
            annotation = hints.get(name, Any)
            base, extras = t.split_annotation(annotation)
            if (
                isinstance(parameter.default, Depends)
                or any(isinstance(e, Depends) for e in extras)
                or provider_for(providers, base) is not None
                or (isinstance(base, type) and issubclass(base, Request))
            ):
                self.dependencies.append(name)
            elif parameter.default is inspect.Parameter.empty:
                fields.append((name, annotation))
            else:
                fields.append((name, annotation, parameter.default))
        self.args = tuple(field[0] for field in fields)
        self.required = tuple(field[0] for field in fields if len(field) == 2)
        try:
            self.struct: Any = msgspec.defstruct(
                f"{job}.args", fields, kw_only=True, forbid_unknown_fields=True
            )
            self.decoder = msgspec.json.Decoder(self.struct)
            msgspec.json.schema(self.struct)  # refuses types JSON cannot carry
        except TypeError as exc:
            raise ConfigurationError(
                f"job {job}: {exc}. Job arguments are stored as JSON, so each must be a type "
                "msgspec encodes (str, int, datetime, a Struct, a dataclass, ...); a parameter "
                "meant to be injected needs Depends(...) or a provider (app.provide(Type, ...), "
                "or the plugin that provides it, such as SQLAlchemyPlugin for AsyncSession)"
            ) from None

    def encode(self, kwargs: dict[str, Any]) -> bytes:
        """The arguments as stored, after checking them exactly as a worker will decode them."""
        try:
            data = _encode(kwargs)
        except TypeError as exc:
            raise InvalidJobArguments(
                [self._unencodable(kwargs, exc)],
                f"{self.job}.enqueue(): an argument cannot be stored as JSON: {exc}",
            ) from None
        self.decode(data)
        return data

    def decode(self, data: bytes) -> dict[str, Any]:
        """The keyword arguments for one run; ``InvalidJobArguments`` when they no longer fit
        the signature (the job's code changed since they were stored)."""
        try:
            return msgspec.structs.asdict(self.decoder.decode(data))
        except msgspec.ValidationError as exc:
            error = from_msgspec("args", str(exc), root=self.struct)
            raise InvalidJobArguments(
                [error], f"{self.job}: {error['field']} {error['reason']}"
            ) from None
        except msgspec.DecodeError as exc:
            raise InvalidJobArguments(
                [{"field": "args", "reason": f"is not valid JSON ({exc})"}]
            ) from None

    def _unencodable(self, kwargs: dict[str, Any], exc: Exception) -> Any:
        for name, value in kwargs.items():
            try:
                _encode(value)
            except TypeError:
                return {"field": f"args.{name}", "reason": f"cannot be stored as JSON ({exc})"}
        return {"field": "args", "reason": f"cannot be stored as JSON ({exc})"}
