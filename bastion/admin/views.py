"""The admin's pages. Every page checks the admin cookie and the permission it needs
first; every POST also checks the CSRF token of the admin session. Refusals are pages
(the login page, or a 403 naming what is missing); bad query strings and ids are 4xx."""

from __future__ import annotations

import functools
import json
import mimetypes
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from bastion.admin import _cascade, _listing, audit
from bastion.admin._access import (
    COOKIE,
    Staff,
    cookie_payload,
    csrf_matches,
    fingerprint,
    new_csrf,
)
from bastion.admin._schema import audit as audit_table
from bastion.admin.options import ModelAdmin
from bastion.exceptions import NotFound, ValidationError
from bastion.http.request import Request
from bastion.http.response import RedirectResponse, Response
from bastion.i18n import gettext as _
from bastion.i18n import lazy_gettext, ngettext
from bastion.routing.router import Router

if TYPE_CHECKING:
    from bastion.admin.site import Admin

NOTICE = "bastion_admin_notice"
#: Rows one bulk action may touch.
MAX_SELECTED = 500
AUDIT_PER_PAGE = 50
#: The permissions' verbs, as the refusal page says them.
VERBS = {
    "view": lazy_gettext("view"),
    "add": lazy_gettext("add"),
    "change": lazy_gettext("change"),
    "delete": lazy_gettext("delete"),
}


class Refused(Exception):
    """Stop a page and answer ``response`` instead (a redirect to the login, a 403)."""

    def __init__(self, response: Response) -> None:
        self.response = response


Handler = Callable[..., Awaitable[Response]]


def page(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def run(*args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(*args, **kwargs)
        except Refused as refused:
            return refused.response

    return run


def admin_router(site: Admin) -> Router:
    router = Router(site.prefix)
    options: dict[str, Any] = {"include_in_schema": False}

    # -- gates -----------------------------------------------------------------------------
    async def gate(request: Request, db: AsyncSession) -> Staff:
        staff = await site.staff(request, db)
        if staff is None:
            if request.method == "GET":
                target = request.path + (
                    "?" + request.scope["query_string"].decode("latin-1")
                    if request.scope.get("query_string")
                    else ""
                )
                raise Refused(
                    RedirectResponse(site.url("login") + "?" + urlencode({"next": target}))
                )
            raise Refused(refuse(request, None, _("Your admin session has ended; sign in again.")))
        return staff

    def model_of(name: str) -> ModelAdmin:
        found = site.models.get(name)
        if found is None:
            raise NotFound(_("The admin has no model named %(name)s") % {"name": name[:50]})
        return found

    def allow(request: Request, staff: Staff, model: ModelAdmin, action: str) -> None:
        if not staff.may(model.name, action):
            message = _("You may not %(action)s %(things)s.") % {
                "action": str(VERBS.get(action, action)),
                "things": str(model.label_plural).lower(),
            }
            raise Refused(refuse(request, staff, message))

    async def posted(request: Request, staff: Staff | None, expected: str) -> Any:
        form = await request.form()
        if not csrf_matches(expected, form.get("_admin_csrf")):
            raise Refused(
                refuse(
                    request,
                    staff,
                    _("The form was out of date or not sent from the admin; reload and try again."),
                )
            )
        return form

    def refuse(request: Request, staff: Staff | None, message: str) -> Response:
        return site.render(request, "refused", 403, staff=staff, message=message)

    async def row(db: AsyncSession, model: ModelAdmin, raw: str) -> Any:
        key = model.parse_pk(raw)
        found = None if key is None else await db.get(model.model, key)
        if found is None:
            raise NotFound(
                _("There is no %(thing)s with the id %(id)s")
                % {"thing": str(model.label).lower(), "id": raw[:40]}
            )
        return found

    def done(url: str, message: str) -> Response:
        response = RedirectResponse(url)
        response.set_cookie(
            NOTICE,
            site.serializer.dumps([message]),
            max_age=60,
            path=site.prefix,
            secure=site.secure,
            httponly=True,
            samesite="strict",
        )
        return response

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        notice = None
        raw = request.cookies.get(NOTICE)
        if raw is not None and len(raw) < 2048:
            from bastion.auth._signing import load_list

            loaded = load_list(site.serializer, raw, 60, str)
            notice = loaded[0] if loaded else None
        response = site.render(request, name, status, notice=notice, **context)
        if raw is not None:
            response.set_cookie(NOTICE, "", max_age=0, path=site.prefix, secure=site.secure)
        return response

    # -- signing in ------------------------------------------------------------------------
    @router.get("/login", **options)
    @page
    async def login_page(request: Request, db: AsyncSession) -> Response:
        if await site.staff(request, db) is not None:
            return RedirectResponse(site.url(""))
        payload = cookie_payload(request, site.serializer)
        csrf = payload[2] if payload else new_csrf()
        response = render(
            request, "login", csrf=csrf, next=_next(site, request.query_params.get("next"))
        )
        if payload is None:
            site.set_cookie(response, "", "", csrf)
        return response

    @router.post("/login", **options)
    @page
    async def login(request: Request, db: AsyncSession) -> Response:
        payload = cookie_payload(request, site.serializer)
        csrf = payload[2] if payload else ""
        form = await posted(request, None, csrf)
        name = str(form.get("username", "")).strip()[:254]
        password = str(form.get("password", ""))[:1024]
        target = _next(site, form.get("next"))
        user = None
        if name:
            found = await db.scalars(
                sa.select(site.user_model)
                .options(raiseload("*"))
                .where(sa.or_(*(c == name for c in site.login_columns)))
                .limit(2)
            )
            candidates = list(found)
            user = candidates[0] if len(candidates) == 1 else None
        ok = (
            await site.hasher.verify(user.password_hash, password)
            if user is not None
            else await site.hasher.verify_dummy(password)
        )
        if not ok or user is None or getattr(user, "is_active", True) is False:
            return render(
                request,
                "login",
                400,
                csrf=csrf,
                next=target,
                username=name,
                error=_("Wrong username or password."),
            )
        if not frozenset(await site.permissions(user, db)):
            return render(
                request,
                "login",
                403,
                csrf=csrf,
                next=target,
                username=name,
                error=_("This account may not use the admin: it is not a staff account."),
            )
        response = RedirectResponse(target)
        site.set_cookie(response, str(user.id), fingerprint(user), new_csrf())
        return response

    @router.post("/logout", **options)
    @page
    async def logout(request: Request, db: AsyncSession) -> Response:
        staff = await gate(request, db)
        await posted(request, staff, staff.csrf)
        response = RedirectResponse(site.url("login"))
        response.set_cookie(COOKIE, "", max_age=0, path=site.prefix, secure=site.secure)
        return response

    @router.get("/static/{name}", **options)
    async def static(name: str) -> Response:
        body = site.static.get(name)
        if body is None:
            raise NotFound(_("No such file"))
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Response(body, 200, {"content-type": kind, "cache-control": "public, max-age=3600"})

    # -- dashboard and audit log ---------------------------------------------------------
    @router.get("", **options)
    @page
    async def dashboard(request: Request, db: AsyncSession) -> Response:
        staff = await gate(request, db)
        visible = [m for m in site.models.values() if staff.may(m.name, "view")]
        counts = {}
        for model in visible:
            counts[model.name] = int(
                await db.scalar(sa.select(sa.func.count()).select_from(model.table)) or 0
            )
        recent = []
        if staff.may("audit", "view"):
            recent = list(
                (
                    await db.execute(
                        sa.select(audit_table).order_by(audit_table.c.id.desc()).limit(8)
                    )
                ).all()
            )
        return render(
            request,
            "dashboard",
            nav="dashboard",
            staff=staff,
            visible=visible,
            counts=counts,
            recent=recent,
        )

    @router.get("/audit", **options)
    @page
    async def audit_log(request: Request, db: AsyncSession) -> Response:
        staff = await gate(request, db)
        if not staff.may("audit", "view"):
            raise Refused(refuse(request, staff, _("You may not view the audit log.")))
        params = request.query_params
        for key in params:
            if key not in ("model", "object", "page"):
                raise _listing.bad(key, _("is not a parameter of the audit log"))
        where = []
        model_name = params.get("model", "")
        if model_name:
            if model_name not in site.models:
                raise _listing.bad("model", _("is not a registered model"))
            where.append(audit_table.c.model == model_name)
        object_id = params.get("object", "")
        if object_id:
            if len(object_id) > 255:
                raise _listing.bad("object", _("is too long"))
            where.append(audit_table.c.object_id == object_id)
        raw_page = params.get("page", "1")
        if not raw_page.isdigit() or len(raw_page) > 9 or int(raw_page) < 1:
            raise _listing.bad("page", _("must be a whole number from 1"))
        count = int(
            await db.scalar(sa.select(sa.func.count()).select_from(audit_table).where(*where)) or 0
        )
        pages = max(1, -(-count // AUDIT_PER_PAGE))
        number = min(int(raw_page), pages)
        entries = (
            await db.execute(
                sa.select(audit_table)
                .where(*where)
                .order_by(audit_table.c.id.desc())
                .limit(AUDIT_PER_PAGE)
                .offset((number - 1) * AUDIT_PER_PAGE)
            )
        ).all()
        shown = [
            {
                "entry": e,
                "changed": audit.changed(e.before, e.after),
                "before": json.dumps(e.before, indent=1, ensure_ascii=False) if e.before else "",
                "after": json.dumps(e.after, indent=1, ensure_ascii=False) if e.after else "",
            }
            for e in entries
        ]
        return render(
            request,
            "audit",
            nav="audit",
            staff=staff,
            entries=shown,
            count=count,
            page=number,
            pages=pages,
            model=model_name,
            object_id=object_id,
        )

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

    return router


def _next(site: Admin, raw: object) -> str:
    """Where a sign-in lands: a page of the admin, never another site."""
    if (
        isinstance(raw, str)
        and raw.startswith(site.prefix)
        and "//" not in raw
        and "\\" not in raw
        and len(raw) < 2000
    ):
        return raw
    return site.url("")


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
