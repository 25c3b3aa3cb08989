"""The admin's pages: signing in and out, its files, the dashboard and the audit log here;
the models' lists, forms and deletions in ``_rows.py``. Every page checks the admin cookie
and the permission it needs first; every POST also checks the CSRF token of the admin
session. Refusals are pages (the login page, or a 403 naming what is missing); bad query
strings and ids are 4xx."""

from __future__ import annotations

import json
import mimetypes
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from bastion.admin import _listing, audit
from bastion.admin._access import (
    COOKIE,
    cookie_payload,
    fingerprint,
    new_csrf,
)
from bastion.admin._pages import Refused, helpers, page
from bastion.admin._schema import audit as audit_table
from bastion.exceptions import NotFound
from bastion.http.request import Request
from bastion.http.response import RedirectResponse, Response
from bastion.i18n import gettext as _
from bastion.routing.router import Router

if TYPE_CHECKING:
    from bastion.admin.site import Admin

NOTICE = "bastion_admin_notice"
#: Rows one bulk action may touch.
MAX_SELECTED = 500
AUDIT_PER_PAGE = 50


def admin_router(site: Admin) -> Router:
    router = Router(site.prefix)
    options: dict[str, Any] = {"include_in_schema": False}
    h = helpers(site)
    gate, posted, refuse, render = h.gate, h.posted, h.refuse, h.render

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

    from bastion.admin._rows import row_routes

    row_routes(router, site)
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
