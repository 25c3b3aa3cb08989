"""The source ``bastion generate`` writes: one function per file kind, on the framework's
real APIs (``bastion.db.crud.CRUDRouter``, ``bastion.jobs``, ``bastion.websockets.channels``,
``bastion.mail``, ``bastion.forms``), ruff-clean as written."""

from __future__ import annotations

import json

from bastion.cli._fields import FieldSpec, column_imports

_COMPARABLE = ("str", "int", "float", "bool")  # JSON round-trips them unchanged


def _fit(head: str, items: list[str], brackets: str, tail: str = "", indent: int = 0) -> str:
    """``head[a, b]tail`` on one line when it fits in 100 columns, else one item a line
    with a trailing comma: the shape ``ruff format`` gives, so projects stay format-clean."""
    opening, closing = brackets[0], brackets[1]
    line = f"{head}{opening}{', '.join(items)}{closing}{tail}"
    if indent + len(line) <= 100 or not items:
        return line
    inner = " " * (indent + 4)
    body = "".join(f"{inner}{item},\n" for item in items)
    return f"{head}{opening}\n{body}{' ' * indent}{closing}{tail}"


def model(cls: str, table: str, fields: list[FieldSpec]) -> str:
    stdlib = sorted({line for f in fields for line in f.kind.imports})
    head = "\n".join(stdlib) + "\n\n" if stdlib else ""
    body = "\n".join(f.model_line() for f in fields) or "    pass"
    return f'''"""{cls}: one row of the ``{table}`` table."""

{head}{column_imports(fields)}from sqlalchemy.orm import Mapped, mapped_column

from bastion.db import IntPK, Model, Timestamps


class {cls}(IntPK, Timestamps, Model):
    __tablename__ = "{table}"

{body}
'''


def _header(message: str, revision: str, down: object, date: str) -> str:
    revises = ", ".join(down) if isinstance(down, tuple) else down or ""
    return f'''"""{message}

Revision ID: {revision}
Revises: {revises}
Create Date: {date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "{revision}"
down_revision: str | Sequence[str] | None = {_literal(down)}
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
'''


def _literal(down: object) -> str:
    """A revision (or several, or None) as source, in the file's double quotes."""
    if isinstance(down, tuple):
        return "(" + ", ".join(json.dumps(d) for d in down) + ("," if len(down) == 1 else "") + ")"
    return json.dumps(down) if isinstance(down, str) else "None"


def create_table_migration(
    table: str, fields: list[FieldSpec], revision: str, down: object, date: str
) -> str:
    now = "server_default=sa.func.now(), nullable=False"
    columns = [
        '        sa.Column("id", sa.Integer(), nullable=False),',
        *(f.migration_line() for f in fields),
        f'        sa.Column("created_at", sa.DateTime(timezone=True), {now}),',
        f'        sa.Column("updated_at", sa.DateTime(timezone=True), {now}),',
        f'        sa.PrimaryKeyConstraint("id", name=op.f("pk_{table}")),',
        *(
            f'        sa.UniqueConstraint("{f.name}", name=op.f("uq_{table}_{f.name}")),'
            for f in fields
            if f.unique
        ),
    ]
    body = "\n".join(columns)
    return f'''{_header(f"create {table}", revision, down, date)}

def upgrade() -> None:
    op.create_table(
        "{table}",
{body}
    )


def downgrade() -> None:
    op.drop_table("{table}")
'''


def empty_migration(message: str, revision: str, down: object, date: str) -> str:
    return f"""{_header(message, revision, down, date)}

def upgrade() -> None:
    pass  # e.g. op.create_index(...), op.execute(sa.text("UPDATE ..."))


def downgrade() -> None:
    pass
"""


def crud_routes(cls: str, model_import: str, path: str, fields: list[FieldSpec]) -> str:
    sortable = [f.name for f in fields if f.kind.python in ("str", "int", "float", "date")]
    sortable = [f.name for f in fields if f.kind.column != "Text()" and f.name in sortable]
    filters = [f.name for f in fields if f.kind.python in ("int", "bool") or f.unique]
    return f'''"""/{path}: list, read, create, replace, update and delete {path} (see CRUDRouter
in docs/database.md for guards, scopes, hooks and the current user)."""

from bastion.db.crud import CRUDRouter

from {model_import} import {cls}

router = CRUDRouter(
    {cls},
    prefix="/{path}",
    tags=["{path}"],
    {_fit("sort=", [json.dumps(n) for n in sortable], "[]", ",", 4)}
    {_fit("filters=", [json.dumps(n) for n in filters], "[]", ",", 4)}
)
'''


def crud_tests(path: str, fields: list[FieldSpec]) -> str:
    new = [f'"{f.name}": {f.sample()}' for f in fields]
    changed = [f'"{f.name}": {f.sample(other=True)}' for f in fields]
    compared = ["id", *(f.name for f in fields if f.kind.python in _COMPARABLE)]
    required = [f.name for f in fields if not f.nullable]
    missing = ""
    named = [f'"body.{n}"' for n in required]
    if required:
        missing = f"""

def test_a_{path}_item_without_its_fields_is_refused(client: TestClient) -> None:
    refused = client.post("/{path}", json={{}})
    assert refused.status_code == 422
    fields = {{e["field"] for e in refused.json()["errors"]}}
    {_fit("assert fields == ", named, "{}", "", 4)}
"""
    return f"""from bastion.testing import TestClient

{_fit("NEW = ", new, "{}")}
{_fit("CHANGED = ", changed, "{}")}
{_fit("COMPARED = ", [json.dumps(n) for n in compared], "[]")}


def test_{path}_are_created_read_listed_changed_and_deleted(client: TestClient) -> None:
    created = client.post("/{path}", json=NEW)
    assert created.status_code == 201, created.text
    item = created.json()
    assert {{k: item[k] for k in COMPARED[1:]}} == {{k: NEW[k] for k in COMPARED[1:]}}
    item_id = item["id"]
    url = f"/{path}/{{item_id}}"
    read = client.get(url).json()
    assert {{k: read[k] for k in COMPARED}} == {{k: item[k] for k in COMPARED}}
    assert [row["id"] for row in client.get("/{path}").json()["items"]] == [item["id"]]
    changed = client.patch(url, json=CHANGED)
    assert changed.status_code == 200, changed.text
    assert {{k: changed.json()[k] for k in COMPARED[1:]}} == {{k: CHANGED[k] for k in COMPARED[1:]}}
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
{missing}"""


def admin_register(cls: str, fields: list[FieldSpec]) -> str:
    """The lines that end ``register(admin)`` in admin.py."""
    names = [json.dumps(f.name) for f in fields]
    return f"""    admin.register(
        {cls},
        {_fit("fields=", names, "[]", ",", 8)}
    )"""


def controller(module: str, actions: list[str]) -> str:
    routes = "\n\n".join(
        f'''@router.get("/{action}")
async def {action}() -> dict[str, str]:
    return {{"page": "{module}/{action}"}}'''
        for action in actions
    )
    return f'''"""/{module}: {", ".join(actions)}."""

from bastion import Router

router = Router("/{module}", tags=["{module}"])


{routes}
'''


def controller_tests(module: str, actions: list[str]) -> str:
    tests = "\n\n".join(
        f'''def test_{module}_{action}_answers(client: TestClient) -> None:
    assert client.get("/{module}/{action}").json() == {{"page": "{module}/{action}"}}'''
        for action in actions
    )
    return f"from bastion.testing import TestClient\n\n\n{tests}\n"


def channel(module: str, cls: str) -> str:
    return f'''"""The ``{module}:*`` topics (``{module}:lobby``, ``{module}:42``...): a socket
joins one and its messages are broadcast to every socket on it (docs/channels.md)."""

import msgspec

from bastion.websockets.channels import Channel, on


class NewMessage(msgspec.Struct):
    body: str


class {cls}(Channel):
    async def join(self, topic: str) -> dict[str, str]:
        return {{"joined": topic}}

    @on("new_msg")
    async def new_msg(self, payload: NewMessage) -> dict[str, bool]:
        await self.broadcast("new_msg", {{"body": payload.body}})
        return {{"sent": True}}
'''


def channel_tests(module: str) -> str:
    return f'''from bastion.testing import TestClient

TOPIC = "{module}:lobby"


def test_{module}_channel_broadcasts_a_message(client: TestClient) -> None:
    with client.websocket_connect("/socket/websocket?vsn=2.0.0") as ws:
        ws.send_json(["1", "1", TOPIC, "phx_join", {{}}])
        reply = ws.receive_json()
        assert reply[4] == {{"status": "ok", "response": {{"joined": TOPIC}}}}
        ws.send_json(["1", "2", TOPIC, "new_msg", {{"body": "hi"}}])
        frames = [ws.receive_json(), ws.receive_json()]
        assert [None, None, TOPIC, "new_msg", {{"body": "hi"}}] in frames
        reply = {{"status": "ok", "response": {{"sent": True}}}}
        assert ["1", "2", TOPIC, "phx_reply", reply] in frames
'''


def job(module: str) -> str:
    return f'''"""The ``{module}`` job: ``await {module}.enqueue(item_id=...)`` stores a run; a
worker (``bastion --app APP worker``, or the app with jobs_worker) runs it (docs/jobs.md)."""

from bastion.jobs import Jobs

jobs = Jobs()


@jobs.job(max_attempts=3, timeout=60)
async def {module}(item_id: int) -> None:
    """Arguments are stored as JSON: pass ids, and load fresh data here."""
'''


def job_tests(jobs_module: str, module: str, package: str) -> str:
    return f"""import asyncio

from bastion import App
from bastion.jobs.testing import JobsTester
from {jobs_module} import jobs
from {jobs_module}.{module} import {module}


def test_{module}_is_enqueued_and_runs(app: App) -> None:
    async def check() -> None:
        with JobsTester(jobs, app=app) as tester:
            await {module}.enqueue(item_id=1)
            tester.assert_enqueued({module}, item_id=1)
            assert await tester.drain() == 1

    asyncio.run(check())
"""


def mail(module: str) -> str:
    return f'''"""The ``{module}`` mail, written from templates/mail/{module}.html and .txt."""

from typing import Any

from bastion.mail import Mailer, Message


async def send_{module}(mailer: Mailer, to: str, **context: Any) -> None:
    """In a handler, ask for ``mailer: Mailer``; elsewhere use the MailPlugin's ``mailer``."""
    subject = "{module.replace("_", " ").capitalize()}"
    await mailer.send(Message(to=to, subject=subject, template="mail/{module}", context=context))
'''


def mail_html(module: str) -> str:
    return f"<p>Hello {{{{ name }}}},</p>\n<p>This is the {module} mail.</p>\n"


def mail_text(module: str) -> str:
    return f"Hello {{{{ name }}}},\n\nThis is the {module} mail.\n"


def mail_tests(mail_module: str, module: str) -> str:
    return f"""from bastion import App
from bastion.mail import MailPlugin
from bastion.testing import TestClient
from {mail_module}.{module} import send_{module}


def test_{module}_mail_is_sent(app: App, client: TestClient) -> None:
    mail = next(p for p in app.plugins if isinstance(p, MailPlugin))
    client.portal.call(send_{module}(mail.mailer, "ada@example.com", name="Ada"))
    [sent] = mail.mailer.outbox
    assert sent.to == ["ada@example.com"]
    assert "Hello Ada" in sent.text
"""


_FORM_VALUES = {"bool": '"on"', "datetime": '"2024-05-01T10:00"'}


def form(cls: str, fields: list[FieldSpec], model: tuple[str, str] | None) -> str:
    if model is not None:
        module, name = model
        return f'''"""{cls}: the fields of {name}, from its columns (bastion.forms.model_form)."""

from bastion.forms import model_form

from {module} import {name}

{cls} = model_form({name})
'''
    classes = sorted({f.kind.form for f in fields} | {"Form"})
    lines = []
    for f in fields:
        required = "" if not f.nullable and f.kind.python != "bool" else ", required=False"
        label = f.name.replace("_", " ").capitalize()
        lines.append(f'    {f.name} = {f.kind.form}("{label}"{required})')
    return f'''"""A form (docs/forms.md).

``await {cls}.bind(request)`` reads and checks a submitted form.
"""

from bastion.forms import {", ".join(classes)}


class {cls}(Form):
{chr(10).join(lines)}
'''


def form_tests(forms_module: str, module: str, cls: str, fields: list[FieldSpec]) -> str:
    if not fields:
        return f"""from {forms_module}.{module} import {cls}


def test_{module}_form_has_the_models_fields() -> None:
    assert {cls}.declared
"""
    good = [
        f'"{f.name}": {_FORM_VALUES.get(f.kind.python.split()[0], _as_text(f.sample()))}'
        for f in fields
    ]
    required = sorted(f.name for f in fields if not f.nullable and f.kind.python != "bool")
    return f"""import asyncio

from {forms_module}.{module} import {cls}


def test_{module}_form_accepts_good_values() -> None:
    {_fit("values = ", good, "{}", "", 4)}
    form = {cls}(values)
    assert asyncio.run(form.validate()), form.errors


def test_{module}_form_names_every_missing_field() -> None:
    form = {cls}({{}})
    assert not asyncio.run(form.validate())
    {_fit("assert sorted(form.errors) == ", [json.dumps(n) for n in required], "[]", "", 4)}
"""


def _as_text(sample: str) -> str:
    return sample if sample.startswith('"') else f'"{sample}"'
