"""What deleting rows takes with it: every table whose foreign key points at them
(``ON DELETE CASCADE`` rows go too, ``SET NULL`` ones are unlinked, any other rule blocks
the deletion), followed a few levels down. The confirmation page lists the plan and the
deletion runs the same plan, deepest rows first, so it does what the page said on every
engine (SQLite without its foreign-key pragma included)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

#: Levels of foreign keys followed (articles → comments → their replies ...).
MAX_DEPTH = 4
SAMPLES = 5


@dataclass
class Step:
    """Rows of ``table`` (those ``rows`` selects) that go, are unlinked or block."""

    table: sa.Table
    rows: sa.ColumnElement[bool]
    kind: str  # delete, unlink, block
    column: sa.Column[Any]
    count: int = 0
    label: str = ""
    samples: list[str] = field(default_factory=list)


def plan(table: sa.Table, rows: sa.ColumnElement[bool], depth: int = 0) -> list[Step]:
    """The steps that removing ``table``'s ``rows`` entails, parents before children."""
    steps: list[Step] = []
    if depth >= MAX_DEPTH:
        return steps
    for child in table.metadata.sorted_tables:
        if child is table:
            continue  # self-references are left to the database
        for fk in child.foreign_keys:
            if fk.column.table is not table:
                continue
            rule = (fk.ondelete or "").upper()
            kind = "delete" if rule == "CASCADE" else "unlink" if rule == "SET NULL" else "block"
            below = fk.parent.in_(sa.select(fk.column).where(rows))
            steps.append(Step(child, below, kind, fk.parent))
            if kind == "delete":
                steps.extend(plan(child, below, depth + 1))
    return steps


def merge(steps: list[Step]) -> list[Step]:
    """One step per table and kind (comments reached through their article and through their
    author are one line, each row counted once), for the confirmation page."""
    merged: dict[tuple[sa.Table, str], Step] = {}
    for step in steps:
        found = merged.get((step.table, step.kind))
        if found is None:
            merged[(step.table, step.kind)] = Step(step.table, step.rows, step.kind, step.column)
        else:
            found.rows = sa.or_(found.rows, step.rows)
    return list(merged.values())


async def measure(
    db: AsyncSession, steps: list[Step], registered: dict[sa.Table, Any]
) -> list[Step]:
    """Count each step's rows and name a few (rows of registered models); steps that touch
    no row are dropped."""
    kept = []
    for step in steps:
        counted = await db.scalar(
            sa.select(sa.func.count()).select_from(step.table).where(step.rows)
        )
        step.count = int(counted or 0)
        if not step.count:
            continue
        admin = registered.get(step.table)
        step.label = str(admin.label) if admin is not None else step.table.name
        if admin is not None:
            found = await db.scalars(
                sa.select(admin.model).options(raiseload("*")).where(step.rows).limit(SAMPLES)
            )
            step.samples = [admin.repr(r) for r in found]
        kept.append(step)
    return kept


async def run(db: AsyncSession, steps: list[Step]) -> None:
    """Unlink and delete the dependent rows, deepest first, before their parents go."""
    for step in reversed(steps):
        if step.kind == "delete":
            await db.execute(sa.delete(step.table).where(step.rows))
        elif step.kind == "unlink":
            await db.execute(
                sa.update(step.table).where(step.rows).values({step.column.name: None})
            )
