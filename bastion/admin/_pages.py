"""What every admin page does first: find the staff member, the model and the row, check
the permission and the CSRF token, and render; a refusal stops the page with ``Refused``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from bastion.admin._access import (
    Staff,
    csrf_matches,
)
from bastion.admin.options import ModelAdmin
from bastion.exceptions import NotFound
from bastion.http.request import Request
from bastion.http.response import RedirectResponse, Response
from bastion.i18n import gettext as _
from bastion.i18n import lazy_gettext

if TYPE_CHECKING:
    from bastion.admin.site import Admin

NOTICE = "bastion_admin_notice"


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


class Helpers(NamedTuple):
    gate: Callable[..., Awaitable[Staff]]
    model_of: Callable[[str], ModelAdmin]
    allow: Callable[..., None]
    posted: Callable[..., Awaitable[Any]]
    refuse: Callable[..., Response]
    row: Callable[..., Awaitable[Any]]
    done: Callable[[str, str], Response]
    render: Callable[..., Response]


def helpers(site: Admin) -> Helpers:
    """The helpers bound to ``site``."""

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

    return Helpers(gate, model_of, allow, posted, refuse, row, done, render)
