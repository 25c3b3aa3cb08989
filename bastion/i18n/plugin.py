"""``I18nPlugin``: catalogs read at start-up, and a locale for every request.

    App(plugins=[I18nPlugin(directory="locales", user_locale=lambda r: ...)],
        settings=Settings(locales=["en", "fr", "de"], default_locale="en"))

The settings say which locales the app offers, the default, the order of the strategies
(``locale_from``) and the default time zone. The plugin's middleware is the outermost
function middleware: it takes a locale prefix off the path (``/fr/articles`` is routed as
``/articles``, with ``/fr`` added to ``root_path``) and makes the request the current one
for ``gettext``; the locale itself is worked out on first use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.app import _NOT_FOUND_BODY as NO_ROUTE_BODY
from bastion.exceptions import ConfigurationError, NotFound
from bastion.i18n._catalogs import load_translations
from bastion.i18n._context import Current, activate, deactivate, set_fallback
from bastion.i18n._localizer import Hook, Localizer
from bastion.i18n._messages import NO_ROUTE
from bastion.middleware.errors import problem_response
from bastion.routing.route import WebSocketRoute

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.http.request import Request
    from bastion.http.response import Response
    from bastion.routing._endpoint import CompiledRoute
    from bastion.types import Endpoint


class I18nPlugin:
    """Translations and locale selection for an app.

    ``directory``: the app's catalogs (``<directory>/<locale>/LC_MESSAGES/<domain>.mo``),
    which must exist; by default ``locales`` in the working directory, if there is one.
    ``user_locale`` / ``user_timezone``: sync hooks ``(request) -> str | None`` reading the
    user's preference (their profile, the session).
    ``cookie_name``: the cookie the ``cookie`` strategy reads; ``timezone_cookie``: the
    cookie holding the browser's time zone (None: not read).
    """

    def __init__(
        self,
        directory: str | PathLike[str] | None = None,
        *,
        domain: str = "messages",
        user_locale: Hook | None = None,
        user_timezone: Hook | None = None,
        cookie_name: str = "locale",
        timezone_cookie: str | None = "timezone",
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.domain = domain
        self.user_locale = user_locale
        self.user_timezone = user_timezone
        self.cookie_name = cookie_name
        self.timezone_cookie = timezone_cookie
        self.localizer: Localizer | None = None

    def on_app_init(self, app: App[Any]) -> None:
        if any(isinstance(p, I18nPlugin) and p is not self for p in app.plugins):
            raise ConfigurationError("An app takes one I18nPlugin; remove the others")
        directory = self.directory
        if directory is None:
            directory = Path("locales") if Path("locales").is_dir() else None
        elif not directory.is_dir():
            raise ConfigurationError(
                f"I18nPlugin(directory={str(directory)!r}): no such folder; create it "
                "with `bastion i18n init -l <locale>` or fix the path"
            )
        settings = app.settings
        localizer = Localizer(
            settings.locales,
            settings.default_locale,
            order=settings.locale_from,
            default_timezone=settings.default_timezone,
            user_locale=self.user_locale,
            user_timezone=self.user_timezone,
            cookie_name=self.cookie_name,
            timezone_cookie=self.timezone_cookie,
        )
        for locale in localizer.locales:
            localizer.translations[locale] = load_translations(locale, directory, self.domain)
        self.localizer = localizer
        app.lifespan_contexts.append(_running(localizer))
        uses_prefix = "prefix" in localizer.order
        middleware = LocaleMiddleware(localizer) if uses_prefix else CurrentLocale(localizer)
        app.middleware.insert(0, middleware)  # outermost: its error pages are translated too
        app.endpoint_wrappers.append(_websocket_locale(localizer))


def _running(localizer: Localizer) -> Callable[[App[Any]], AbstractAsyncContextManager[None]]:
    """While the app runs, code outside its requests (jobs, mail) uses its default locale."""

    @asynccontextmanager
    async def running(app: App[Any]) -> AsyncIterator[None]:
        previous = set_fallback(Current(localizer, None, localizer.default_locale))
        try:
            yield
        finally:
            set_fallback(previous)

    return running


def _websocket_locale(localizer: Localizer) -> Callable[[CompiledRoute], Endpoint]:
    """An endpoint wrapper giving each WebSocket connection its locale (all strategies but
    the URL prefix: WebSocket paths are routed before any middleware)."""

    def wrap(compiled: CompiledRoute) -> Endpoint:
        endpoint = compiled.endpoint
        if not isinstance(compiled.route, WebSocketRoute):
            return endpoint

        async def localized(connection: Any) -> Any:
            token = activate(Current(localizer, connection))
            try:
                return await endpoint(connection)
            finally:
                deactivate(token)

        return localized

    return wrap


class CurrentLocale:
    """Makes each request the current one for ``gettext`` (its locale chosen on first use).

    A response whose request used its locale says which (``Content-Language``) and what
    chose it (``Vary: accept-language`` or ``cookie``), so that caches keep one per locale.
    """

    def __init__(self, localizer: Localizer) -> None:
        self.localizer = localizer

    async def __call__(self, request: Request, call_next: Endpoint) -> Response:
        return await self.serve(Current(self.localizer, request), request, call_next)

    @staticmethod
    async def serve(current: Current, request: Request, call_next: Endpoint) -> Response:
        token = activate(current)
        try:
            response = await call_next(request)
        except Exception as exc:  # answered here, so inner middleware's errors are translated
            response = await request.app.failed(request, exc)
        finally:
            deactivate(token)
        if response.status_code == 404 and response.body is NO_ROUTE_BODY:
            # the app answers unknown paths with bytes encoded once, in English
            token = activate(current)
            try:
                response = problem_response(NotFound(NO_ROUTE))
            finally:
                deactivate(token)
        if current.locale is not None:
            headers = response.raw_headers
            headers.append((b"content-language", current.locale.replace("_", "-").encode()))
            headers.extend(current.vary)
        return response


class LocaleMiddleware(CurrentLocale):
    """``CurrentLocale`` that also takes a supported locale off the front of the path."""

    async def __call__(self, request: Request, call_next: Endpoint) -> Response:
        current = Current(self.localizer, request)
        scope = request.scope
        path: str = scope["path"]
        segment = path[1:].partition("/")[0]
        locale = self.localizer.prefixes.get(segment.lower()) if segment else None
        if locale is not None:
            current.prefix = locale
            scope["path"] = path[len(segment) + 1 :] or "/"
            scope["root_path"] = scope.get("root_path", "") + "/" + segment
        return await self.serve(current, request, call_next)
