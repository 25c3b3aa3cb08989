"""``Admin``: the admin site, a plugin that mounts pages at ``/admin`` for the models
registered on it.

    admin = Admin(user_model=User)
    admin.register(Article, list_display=["title", "author", "created_at"], search=["title"])
    app = App(plugins=[SQLAlchemyPlugin(...), admin])

The pages need the app's ``SQLAlchemyPlugin`` (rows, the grants and the audit log are read
through its session); the admin's two tables come as a migration that ``bastion db upgrade``
applies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.admin._access import COOKIE, MAX_AGE, Permissions, Staff, fingerprint, grants_of
from bastion.admin.options import Action, Inline, ModelAdmin, plural
from bastion.auth._signing import signed_serializer
from bastion.auth.passwords import PasswordHasher
from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.http.response import HTMLResponse, Response
from bastion.i18n import lazy_gettext
from bastion.templates import Templates

if TYPE_CHECKING:
    from bastion.app import App

STATIC = Path(__file__).resolve().parent / "static"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Admin:
    """The admin site. ``user_model``: the app's user class (with a ``password_hash``);
    ``login_fields``: its columns a person may sign in with; ``permissions``: an async
    ``(user, db) -> iterable of permissions`` replacing the grants table; ``title``: the
    name in the header."""

    def __init__(
        self,
        *,
        user_model: type[Any],
        prefix: str = "/admin",
        login_fields: Sequence[str] = ("username", "email"),
        permissions: Permissions | None = None,
        hasher: PasswordHasher | None = None,
        title: str | None = None,
    ) -> None:
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ConfigurationError(
                f"Admin(prefix={prefix!r}): start it with '/' and do not end it with one"
            )
        self.users = ModelAdmin(user_model)
        columns = self.users.columns
        missing = [f for f in login_fields if f not in columns]
        if not login_fields or missing:
            raise ConfigurationError(
                f"Admin(login_fields={list(login_fields)!r}): {user_model.__name__} has no "
                f"column {', '.join(missing) or '(none given)'}; name the columns people "
                "sign in with"
            )
        if "password_hash" not in columns:
            raise ConfigurationError(
                f"Admin(user_model={user_model.__name__}): the admin checks passwords against "
                "a password_hash column (argon2id, from bastion.auth.PasswordHasher)"
            )
        self.user_model = user_model
        self.login_columns = [columns[f].column for f in login_fields]
        self.prefix = prefix
        self.permissions = permissions or grants_of(lambda user: str(user.id))
        self.hasher = hasher or PasswordHasher()
        self.title = title or lazy_gettext("Administration")
        self.models: dict[str, ModelAdmin] = {}
        self.registry: dict[type, ModelAdmin] = {}
        self.templates = _templates()
        self.static = {p.name: p.read_bytes() for p in STATIC.iterdir() if p.is_file()}
        self.serializer: Any = None
        self.secure = False

    def register(
        self,
        model: type[Any],
        *,
        name: str | None = None,
        label: str | None = None,
        label_plural: str | None = None,
        list_display: Sequence[str] = (),
        search: Sequence[str] = (),
        filters: Sequence[str] = (),
        ordering: Sequence[str] = (),
        readonly: Sequence[str] = (),
        fields: Sequence[str] | None = None,
        actions: Sequence[Action] = (),
        inlines: Sequence[Inline] = (),
        display: str | Callable[[Any], str] | None = None,
        per_page: int = 50,
    ) -> ModelAdmin:
        """Show ``model`` in the admin. ``list_display``: the list's columns (a many-to-one
        relationship shows the row it points to); ``search``: text columns the search box
        looks in; ``filters``: columns to filter by (booleans, choices, dates, foreign keys
        or any column's values); ``ordering``: the default sort (``"-created_at"``);
        ``readonly``: shown, never edited; ``fields``: the form's columns; ``actions``:
        bulk actions (``@action``); ``inlines``: related rows shown on the edit page;
        ``display``: the column or function that names a row."""
        registered = ModelAdmin(
            model,
            name=name,
            label=label,
            list_display=list_display,
            search=search,
            filters=filters,
            ordering=ordering,
            readonly=readonly,
            fields=fields,
            actions=actions,
            inlines=inlines,
            display=display,
            per_page=per_page,
        )
        registered.label_plural = label_plural or plural(str(registered.label))
        if registered.name in self.models or registered.name in (
            "login",
            "logout",
            "static",
            "audit",
        ):
            raise ConfigurationError(
                f"admin.register({model.__name__}): the name {registered.name!r} is taken; "
                "give another with name=..."
            )
        from bastion.forms import ModelChoiceField, ModelMultipleChoiceField, model_form

        editable = [f for f in registered.fields if f not in registered.readonly]
        registered.form = model_form(model, fields=editable)
        for field in registered.form.declared.values():
            if isinstance(field, ModelChoiceField | ModelMultipleChoiceField):
                field.label_of = self.name_row  # rows named as the admin names them
        self.models[registered.name] = registered
        self.registry[model] = registered
        return registered

    def on_app_init(self, app: App[Any]) -> None:
        from bastion.db import SQLAlchemyPlugin

        database = next((p for p in app.plugins if isinstance(p, SQLAlchemyPlugin)), None)
        if database is None:
            raise ConfigurationError(
                "Admin reads and writes rows through the database: add SQLAlchemyPlugin(...) "
                "to App(plugins=[...]) before the Admin"
            )
        from bastion.admin._schema import metadata

        database.include_migrations(MIGRATIONS, metadata)
        settings = app.settings
        self.serializer = signed_serializer(
            settings.secret_key, settings.profile, "bastion.admin", "The admin's sessions"
        )
        self.secure = settings.profile == "prod"
        from bastion.admin.views import admin_router

        app.include(admin_router(self))

    # -- used by the views -----------------------------------------------------------------
    def name_row(self, row: Any) -> str:
        """How a row is named in selects: as its registration names it."""
        registered = self.registry.get(type(row))
        return (registered or ModelAdmin(type(row))).repr(row)

    def by_table(self) -> dict[sa.Table, ModelAdmin]:
        return {m.table: m for m in self.models.values()}

    def url(self, *parts: object) -> str:
        return "/".join([self.prefix, *(str(p) for p in parts if p != "")])

    async def staff(self, request: Request, db: AsyncSession) -> Staff | None:
        """The signed-in staff member, or None (no cookie, a stale one, no permission)."""
        from bastion.admin._access import cookie_payload

        payload = cookie_payload(request, self.serializer)
        if payload is None or not payload[0]:
            return None
        subject, check, csrf = payload
        key = self.users.parse_pk(subject)
        if key is None:
            return None
        user = await db.get(self.user_model, key)
        if user is None or getattr(user, "is_active", True) is False or fingerprint(user) != check:
            return None
        permissions = frozenset(await self.permissions(user, db))
        if not permissions:
            return None
        name = str(getattr(user, self.users.display_key or "id", subject))
        return Staff(user, subject, name, permissions, csrf)

    def set_cookie(self, response: Response, subject: str, check: str, csrf: str) -> None:
        response.set_cookie(
            COOKIE,
            self.serializer.dumps([subject, check, csrf]),
            max_age=MAX_AGE,
            path=self.prefix,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def render(
        self, request: Request, name: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        context.setdefault("admin", self)
        context.setdefault("staff", None)
        context.setdefault("nav", None)
        return self.templates.render(
            request,
            f"admin/{name}.html",
            context,
            status_code=status,
            headers={"cache-control": "no-store"},
        )


def _templates() -> Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bastion.admin", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates = Templates(env=env)
    from bastion.i18n import get_locale

    env.globals["locale"] = get_locale
    from bastion.forms import install_forms

    install_forms(templates)
    return templates
