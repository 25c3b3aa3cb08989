"""``title:str body:text? price:float:unique``: the fields ``bastion generate`` is given.

Each type maps to the model's annotation and column, the migration's column, a form
field, and a sample value for the generated tests (one for create, one for update).
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from bastion.cli._project import identifier


@dataclass(frozen=True)
class Kind:
    python: str  # annotation in the model
    column: str  # SQLAlchemy type, in the model and the migration (sa.<column>)
    form: str  # bastion.forms field class
    sample: str  # a JSON-able value as Python source, for tests
    other: str  # another one, for the update test
    imports: tuple[str, ...] = ()


KINDS = {
    "str": Kind("str", "String(200)", "StringField", '"a {name}"', '"another {name}"'),
    "text": Kind("str", "Text()", "TextField", '"some {name}"', '"more {name}"'),
    "int": Kind("int", "Integer()", "IntegerField", "7", "8"),
    "bigint": Kind("int", "BigInteger()", "IntegerField", "7", "8"),
    "float": Kind("float", "Float()", "FloatField", "1.5", "2.5"),
    "bool": Kind("bool", "Boolean()", "BooleanField", "True", "False"),
    "date": Kind(
        "date",
        "Date()",
        "DateField",
        '"2024-05-01"',
        '"2024-06-01"',
        ("from datetime import date",),
    ),
    "datetime": Kind(
        "datetime",
        "DateTime(timezone=True)",
        "DateTimeField",
        '"2024-05-01T10:00:00+00:00"',
        '"2024-06-01T10:00:00+00:00"',
        ("from datetime import datetime",),
    ),
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    nullable: bool = False
    unique: bool = False

    @property
    def annotation(self) -> str:
        return f"{self.kind.python} | None" if self.nullable else self.kind.python

    def model_line(self) -> str:
        options = [self.kind.column]
        if self.unique:
            options.append("unique=True")
        return f"    {self.name}: Mapped[{self.annotation}] = mapped_column({', '.join(options)})"

    def migration_line(self) -> str:
        nullable = "True" if self.nullable else "False"
        return f'        sa.Column("{self.name}", sa.{self.kind.column}, nullable={nullable}),'

    def sample(self, other: bool = False) -> str:
        return (self.kind.other if other else self.kind.sample).replace("{name}", self.name)


def parse_fields(specs: tuple[str, ...]) -> list[FieldSpec]:
    """Fields from ``name:type[?][:unique]``; a usage error names the bad one and the types."""
    fields = []
    for spec in specs:
        name, _, rest = spec.partition(":")
        kind_name, *flags = (rest or "str").split(":")
        nullable = kind_name.endswith("?")
        kind = KINDS.get(kind_name.removesuffix("?"))
        if kind is None or any(flag != "unique" for flag in flags):
            raise click.UsageError(
                f"Field {spec!r}: write name:type, optionally with ? (may be empty) and "
                f":unique, where type is one of {', '.join(KINDS)} (e.g. title:str:unique)"
            )
        if name in ("id", "created_at", "updated_at"):
            raise click.UsageError(f"Field {name!r} comes with every model: leave it out")
        fields.append(FieldSpec(identifier(name, "field"), kind, nullable, "unique" in flags))
    return fields


def column_imports(fields: list[FieldSpec]) -> str:
    names = sorted({f.kind.column.split("(")[0] for f in fields})
    return f"from sqlalchemy import {', '.join(names)}\n" if names else ""
