"""Apps the i18n tests share: one offering en, fr and de, with a handler that translates."""

from __future__ import annotations

from typing import Annotated, Any

from bastion import App, Query, Request, Settings
from bastion.i18n import I18nPlugin, get_locale, gettext


def app_with(
    *,
    locales: tuple[str, ...] = ("en", "fr", "de"),
    default: str = "en",
    order: tuple[str, ...] = ("prefix", "cookie", "user", "header"),
    **plugin: Any,
) -> App:
    settings = Settings(
        profile="test", locales=list(locales), default_locale=default, locale_from=list(order)
    )
    app = App(settings=settings, plugins=[I18nPlugin(**plugin)])

    @app.get("/locale")
    async def locale(request: Request) -> dict[str, str]:
        return {"locale": get_locale(), "path": request.path, "root": request.scope["root_path"]}

    @app.get("/plain")
    async def plain() -> str:
        return "no translation here"

    @app.get("/items")
    async def items(limit: Annotated[int, Query(ge=1)], name: str) -> dict[str, str]:
        return {"saved": gettext("Save")}

    return app
