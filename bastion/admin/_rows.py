"""The models' pages: lists and bulk actions, adding, editing and deleting rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from bastion.admin import _cascade, _cells, _listing, audit
from bastion.admin._access import (
    Staff,
)
from bastion.admin._pages import helpers, page
from bastion.admin.options import ModelAdmin
from bastion.exceptions import ValidationError
from bastion.http.request import Request
from bastion.http.response import Response
from bastion.i18n import gettext as _
from bastion.i18n import ngettext
from bastion.routing.router import Router

if TYPE_CHECKING:
    from bastion.admin.site import Admin

NOTICE = "bastion_admin_notice"
#: Rows one bulk action may touch.
MAX_SELECTED = 500
AUDIT_PER_PAGE = 50


def row_routes(router: Router, site: Admin) -> None:
    options: dict[str, Any] = {"include_in_schema": False}
    h = helpers(site)
    gate, model_of, allow, posted = h.gate, h.model_of, h.allow, h.posted
    row, done, render = h.row, h.done, h.render

    # -- lists and bulk actions ----------------------------------------------------------
    @router.get("/{name}", **options)
    @page
    async def list_view(request: Request, db: AsyncSession, name: str) -> Response:
        staff = await gate(request, db)
        model = model_of(name)
        allow(request, staff, model, "view")
        listing = await _listing.list_rows(model, db, request.query_params, site.registry)
        choices = await _listing.filter_choices(model, db, site.registry)
        actions = [
            (a.name, a.label) for a in model.actions.values() if staff.may(model.name, a.permission)
        ]
        if staff.may(model.name, "delete"):
            actions.append(("delete_selected", _("Delete selected")))
        return render(
            request,
            "list",
            staff=staff,
            model=model,
            listing=listing,
            rows=_cells.list_rows(
                model,
                listing.rows,
                listing.labels,
                lambda key: site.url(model.name, key),
                pick=bool(actions),
            ),
            choices=choices,
            actions=actions,
            link=_linker(request.query_params),
        )

    @router.post("/{name}/action", **options)
    @page
    async def bulk(request: Request, db: AsyncSession, name: str) -> Response:
        staff = await gate(request, db)
        model = model_of(name)
        allow(request, staff, model, "view")
        form = await posted(request, staff, staff.csrf)
        chosen = str(form.get("action", ""))
        raw_ids = [str(v) for v in form.getlist("ids")]
        if chosen == "delete_selected":
            label, permission = _("Delete selected"), "delete"
        elif chosen in model.actions:
            label, permission = model.actions[chosen].label, model.actions[chosen].permission
        else:
            raise ValidationError(
                [{"field": "body.action", "reason": _("is not an action of this list")}]
            )
        allow(request, staff, model, permission)
        if not raw_ids:
            return done(site.url(model.name), _("Select the rows to act on first."))
        if len(raw_ids) > MAX_SELECTED:
            raise ValidationError([{"field": "body.ids", "reason": _("too many rows selected")}])
        ids = [model.parse_pk(v) for v in raw_ids]
        if any(i is None for i in ids):
            raise ValidationError(
                [{"field": "body.ids", "reason": _("holds an id that is not valid")}]
            )
        rows = list(
            await db.scalars(
                sa.select(model.model)
                .options(raiseload("*"))
                .where(model.pk.in_(ids))
                .order_by(model.pk)
            )
        )
        for found in rows:
            await audit.load_many(db, model, found)
        steps: list[_cascade.Step] = []
        planned = _cascade.plan(model.table, model.pk.in_(ids))
        if chosen == "delete_selected":
            steps = await _cascade.measure(db, _cascade.merge(planned), site.by_table())
        if form.get("confirm") != "1":
            return render(
                request,
                "confirm",
                staff=staff,
                model=model,
                rows=rows,
                action=chosen,
                label=label,
                steps=steps,
                blocked=any(s.kind == "block" for s in steps),
            )
        if chosen == "delete_selected":
            if any(s.kind == "block" for s in steps):
                return render(
                    request,
                    "confirm",
                    409,
                    staff=staff,
                    model=model,
                    rows=rows,
                    action=chosen,
                    label=label,
                    steps=steps,
                    blocked=True,
                )
            for found in rows:
                await audit.record(
                    db, staff, model, "delete", found, audit.snapshot(model, found), None
                )
            await _cascade.run(db, planned)
            await db.execute(sa.delete(model.table).where(model.pk.in_(ids)))
            message = ngettext(
                "Deleted %(n)d %(thing)s.", "Deleted %(n)d %(things)s.", len(rows)
            ) % {
                "n": len(rows),
                "thing": str(model.label).lower(),
                "things": str(model.label_plural).lower(),
            }
            return done(site.url(model.name), message)
        befores = [audit.snapshot(model, r) for r in rows]
        result = await model.actions[chosen].handler(db, rows)
        await db.flush()
        for found, before in zip(rows, befores, strict=True):
            after = audit.snapshot(model, found)
            if after != before:
                await audit.record(db, staff, model, chosen, found, before, after)
        return done(site.url(model.name), result or _("%(action)s: done.") % {"action": label})

    # -- create, edit, delete ------------------------------------------------------------
    @router.get("/{name}/add", **options)
    @page
    async def add_page(request: Request, db: AsyncSession, name: str) -> Response:
        staff = await gate(request, db)
        model = model_of(name)
        allow(request, staff, model, "add")
        initial = {k: v for k, v in request.query_params.items() if k in model.form.declared}
        form = await model.form.blank(request, initial=initial, session=db)
        return render(request, "form", staff=staff, model=model, form=form, obj=None)

    @router.post("/{name}/add", **options)
    @page
    async def add(request: Request, db: AsyncSession, name: str) -> Response:
        staff = await gate(request, db)
        model = model_of(name)
        allow(request, staff, model, "add")
        await posted(request, staff, staff.csrf)
        form = await model.form.bind(request, session=db)
        if not form.is_valid:
            return render(
                request, "form", form.status_code, staff=staff, model=model, form=form, obj=None
            )
        created = await form.save(db)
        await db.flush()
        await audit.record(db, staff, model, "add", created, None, audit.snapshot(model, created))
        key = getattr(created, model.pk_key)
        return done(
            site.url(model.name, key), _("Added %(thing)s.") % {"thing": model.repr(created)}
        )

    @router.get("/{name}/{key}", **options)
    @page
    async def edit_page(request: Request, db: AsyncSession, name: str, key: str) -> Response:
        staff = await gate(request, db)
        model = model_of(name)
        allow(request, staff, model, "view")
        found = await row(db, model, key)
        form = await model.form.blank(request, instance=found, session=db)
        return await edit_render(request, db, staff, model, found, form, 200)

    @router.post("/{name}/{key}", **options)
    @page
    async def edit(request: Request, db: AsyncSession, name: str, key: str) -> Response:
        staff = await gate(request, db)
        model = model_of(name)
        allow(request, staff, model, "change")
        found = await row(db, model, key)
        await posted(request, staff, staff.csrf)
        await audit.load_many(db, model, found)
        before = audit.snapshot(model, found)
        form = await model.form.bind(request, instance=found, session=db)
        if not form.is_valid:
            return await edit_render(request, db, staff, model, found, form, form.status_code)
        await form.save(db, instance=found)
        await db.flush()
        after = audit.snapshot(model, found)
        if after != before:
            await audit.record(db, staff, model, "change", found, before, after)
        return done(site.url(model.name, key), _("Saved %(thing)s.") % {"thing": model.repr(found)})

    async def edit_render(
        request: Request,
        db: AsyncSession,
        staff: Staff,
        model: ModelAdmin,
        found: Any,
        form: Any,
        status: int,
    ) -> Response:
        readonly = [
            (model.columns[k].label, getattr(found, k)) for k in model.fields if k in model.readonly
        ]
        inlines = []
        for inline in model.inlines:
            related = site.by_table().get(sa.inspect(inline.model).local_table)
            mapper = sa.inspect(inline.model)
            fk = mapper.columns[inline.fk]
            keys = (
                list(inline.fields)
                or [c.key for c in mapper.column_attrs if c.key != inline.fk][:4]
            )
            rows = list(
                await db.scalars(
                    sa.select(inline.model)
                    .options(raiseload("*"))
                    .where(fk == getattr(found, model.pk_key))
                    .limit(inline.limit)
                )
            )
            inlines.append({"inline": inline, "related": related, "columns": keys, "rows": rows})
        return render(
            request,
            "form",
            status,
            staff=staff,
            model=model,
            form=form,
            obj=found,
            readonly=readonly,
            inlines=inlines,
            key=getattr(found, model.pk_key),
        )

    @router.get("/{name}/{key}/delete", **options)
    @page
    async def delete_page(request: Request, db: AsyncSession, name: str, key: str) -> Response:
        staff = await gate(request, db)
        model = model_of(name)
        allow(request, staff, model, "delete")
        found = await row(db, model, key)
        steps = await _cascade.measure(
            db,
            _cascade.merge(_cascade.plan(model.table, model.pk == getattr(found, model.pk_key))),
            site.by_table(),
        )
        return render(
            request,
            "delete",
            staff=staff,
            model=model,
            obj=found,
            steps=steps,
            blocked=any(s.kind == "block" for s in steps),
            key=key,
        )

    @router.post("/{name}/{key}/delete", **options)
    @page
    async def delete(request: Request, db: AsyncSession, name: str, key: str) -> Response:
        staff = await gate(request, db)
        model = model_of(name)
        allow(request, staff, model, "delete")
        found = await row(db, model, key)
        await posted(request, staff, staff.csrf)
        pk = getattr(found, model.pk_key)
        planned = _cascade.plan(model.table, model.pk == pk)
        steps = await _cascade.measure(db, _cascade.merge(planned), site.by_table())
        if any(s.kind == "block" for s in steps):
            return render(
                request,
                "delete",
                409,
                staff=staff,
                model=model,
                obj=found,
                steps=steps,
                blocked=True,
                key=key,
            )
        await audit.load_many(db, model, found)
        await audit.record(db, staff, model, "delete", found, audit.snapshot(model, found), None)
        await _cascade.run(db, planned)
        await db.execute(sa.delete(model.table).where(model.pk == pk))
        db.expunge(found)
        return done(site.url(model.name), _("Deleted %(thing)s.") % {"thing": model.repr(found)})


def _linker(params: Any) -> Callable[..., str]:
    """``link(sort="-title")``: the current list's URL with some parameters changed (None
    removes one); changing anything but the page goes back to page 1."""
    current = dict(params.items())

    def link(changes: dict[str, Any] | None = None, **more: Any) -> str:
        changes = {**(changes or {}), **more}
        merged = dict(current)
        if "page" not in changes:
            merged.pop("page", None)
        for key, value in changes.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = str(value)
        return "?" + urlencode(merged) if merged else "?"

    return link
