"""Every invalid field of a value that failed msgspec's one-pass check, not only the first.

msgspec stops at the first error, which is what makes valid bodies fast. Once a value has
failed, it is walked against its annotation: objects field by field, lists item by item, and
each part checked by msgspec itself (the rules and messages stay msgspec's). A part that
passes is not entered, so the walk costs little more than the failed check. The tree of
checks is built once per body type, at start-up.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

import msgspec
import msgspec.inspect

from bastion.exceptions import FieldError
from bastion.params import _types as t
from bastion.params._errors import Part, from_msgspec, strip_required

Check = Callable[[Any], object]  # raises msgspec.ValidationError
#: Enough to redisplay a form or fix a request; a body of a million bad items gets no more.
MAX_ERRORS = 100
#: Deeper than this (a recursive type), a failing part is reported as one error.
MAX_DEPTH = 32

_SEQUENCES = (list, set, frozenset, tuple)


def json_check(tp: Any) -> Check:
    """Check an already decoded JSON value as if it were decoded with ``tp`` (same rules:
    string keys that are numbers, base64 bytes, strict types)."""
    decoder = msgspec.json.Decoder(tp)
    encode = msgspec.json.encode
    return lambda raw: decoder.decode(encode(raw))


def form_check(tp: Any) -> Check:
    """Check form values (strings) as the form extractor converts them."""
    return lambda raw: msgspec.convert(raw, tp, strict=False)


@dataclass(eq=False)
class Node:
    """One annotation: its whole check, and how to walk into the value when that fails."""

    tp: Any
    check: Check
    inner: Node | None = None  # ``T | None``: a value that is not None is walked as a T
    fields: list[tuple[str, bool, Node]] | None = None  # an object: (name, required, node)
    closed: bool = False  # an object that refuses unknown fields
    tag: str | None = None  # a tagged struct's tag field, which is no unknown field
    shape: Check | None = None  # a list or dict: its own type and length, items aside
    items: Node | None = None  # a list's items, or a dict's values
    mapping: bool = False

    def errors(self, raw: Any, location: str) -> list[FieldError]:
        """The value's errors as entries under ``location`` (empty when it is valid)."""
        found: list[tuple[list[Part], str, Any]] = []
        self._walk(raw, [], found, 0)
        return [from_msgspec(location, message, root=tp, prefix=at) for at, message, tp in found]

    def _walk(self, raw: Any, at: list[Part], found: list[Any], depth: int) -> None:
        try:
            self.check(raw)
            return
        except msgspec.ValidationError as exc:
            first = str(exc)
        before = len(found)
        if depth < MAX_DEPTH:
            self._enter(raw, at, found, depth)
        if len(found) == before and len(found) < MAX_ERRORS:
            found.append((at, first, self.tp))  # nothing more precise inside: its own error

    def _enter(self, raw: Any, at: list[Part], found: list[Any], depth: int) -> None:
        if self.inner is not None and raw is not None:
            self.inner._enter(raw, at, found, depth)
        elif self.fields is not None and type(raw) is dict:
            self._enter_object(self.fields, raw, at, found, depth)
        elif self.items is not None and self.shape is not None and type(raw) is self._container:
            self._enter_items(self.items, self.shape, raw, at, found, depth)

    @property
    def _container(self) -> type:
        return dict if self.mapping else list

    def _enter_object(
        self,
        fields: list[tuple[str, bool, Node]],
        raw: dict[str, Any],
        at: list[Part],
        found: list[Any],
        depth: int,
    ) -> None:
        for name, required, node in fields:
            if len(found) >= MAX_ERRORS:
                return
            if name in raw:
                node._walk(raw[name], [*at, name], found, depth + 1)
            elif required:
                found.append((at, f"Object missing required field `{name}`", self.tp))
        if self.closed:
            known = {name for name, _, _ in fields}
            for name in raw:
                if name not in known and name != self.tag and len(found) < MAX_ERRORS:
                    found.append((at, f"Object contains unknown field `{name}`", self.tp))

    def _enter_items(
        self, items: Node, shape: Check, raw: Any, at: list[Part], found: list[Any], depth: int
    ) -> None:
        try:
            shape(raw)  # the list's own length
        except msgspec.ValidationError as exc:
            found.append((at, str(exc), self.tp))
        pairs = raw.items() if self.mapping else enumerate(raw)
        for key, value in pairs:
            if len(found) >= MAX_ERRORS:
                return
            items._walk(value, [*at, key], found, depth + 1)


def build(tp: Any, check_of: Callable[[Any], Check]) -> Node:
    """The walk for ``tp``, with ``check_of`` making each part's check (JSON or form)."""
    return _Builder(check_of).node(tp)


class _Builder:
    def __init__(self, check_of: Callable[[Any], Check]) -> None:
        self.check_of = check_of
        self.made: dict[Any, Node] = {}  # recursive types point back at their node

    def node(self, tp: Any) -> Node:
        try:
            made = self.made.get(tp)
        except TypeError:  # unhashable metadata: no sharing, no recursion either
            made = None
        if made is not None:
            return made
        node = Node(tp, self.check_of(tp))
        try:
            self.made[tp] = node
        except TypeError:
            pass
        try:
            self._fill(node, tp)
        except Exception:  # a shape this walk does not know: the whole check alone
            node.inner = node.fields = node.items = node.shape = None
        return node

    def _fill(self, node: Node, tp: Any) -> None:
        base, extras = t.strip_annotated(tp)
        inner, optional = t.strip_optional(base)
        if optional:
            node.inner = self.node(inner)
            return
        origin, args = get_origin(base), get_args(base)
        if origin in _SEQUENCES and (origin is not tuple or (len(args) == 2 and args[1] is ...)):
            node.shape = self.check_of(Annotated[list[Any], *extras] if extras else list[Any])
            node.items = self.node(args[0] if args else Any)
        elif origin is dict and args:
            node.shape = self.check_of(Annotated[dict[Any, Any], *extras] if extras else dict)
            node.items, node.mapping = self.node(args[1]), True
        elif isinstance(base, type) and t.is_structured(base) and not extras:
            self._fill_object(node, base)

    def _fill_object(self, node: Node, cls: type) -> None:
        info = msgspec.inspect.type_info(cls)
        if isinstance(info, msgspec.inspect.StructType):
            if info.array_like:
                return
            node.closed, node.tag = info.forbid_unknown_fields, info.tag_field
        elif not isinstance(info, msgspec.inspect.DataclassType | msgspec.inspect.TypedDictType):
            return
        hints = typing.get_type_hints(cls, include_extras=True)
        order = {name: i for i, name in enumerate(hints)}  # as declared (msgspec may sort)
        node.fields = [
            (f.encode_name, f.required, self.node(strip_required(hints[f.name])))
            for f in sorted(info.fields, key=lambda f: order[f.name])
        ]
