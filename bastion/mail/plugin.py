"""``MailPlugin``: one ``Mailer`` for the app, configured by the settings.

    App(plugins=[MailPlugin(templates="templates")])

The transport is ``transport=`` if given, else the ``mail_url`` setting
(``BASTION_MAIL_URL``), else ``console://`` in the dev profile and ``memory://`` in test;
the prod profile refuses to start without one. The default From address is ``sender=`` or
``mail_from`` (``BASTION_MAIL_FROM``). Handlers ask for ``mailer: Mailer``; code outside
requests uses ``plugin.mailer``. With ``JobsPlugin`` in the app, the plugin registers the
``bastion.mail.send`` job that ``mailer.send(message, queue=True)`` enqueues. In the dev
profile, ``previews=`` are served under ``preview_path``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import weakref
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bastion.exceptions import ConfigurationError
from bastion.mail.address import AddressLike
from bastion.mail.mailer import Mailer
from bastion.mail.message import Envelope, Message
from bastion.mail.previews import MailPreviews
from bastion.mail.render import TemplateSource
from bastion.mail.transport import Transport, hide_password

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.jobs.job import Job
    from bastion.jobs.registry import Jobs

#: The name the queued-send job is stored under: keep it stable.
SEND_JOB = "bastion.mail.send"


class MailPlugin:
    """The app's mailer. ``queue`` and ``max_attempts`` are the ``bastion.mail.send`` job's
    (a worker needs that queue: the default worker takes every queue of the app's jobs)."""

    def __init__(
        self,
        transport: Transport | str | None = None,
        *,
        sender: AddressLike | None = None,
        templates: TemplateSource | None = None,
        previews: MailPreviews | None = None,
        preview_path: str = "/_mail",
        queue: str = "mail",
        max_attempts: int = 5,
    ) -> None:
        if previews is not None and not isinstance(previews, MailPreviews):
            raise ConfigurationError(
                f"MailPlugin(previews={previews!r}): give a bastion.mail.MailPreviews()"
            )
        if not isinstance(queue, str) or not queue:
            raise ConfigurationError(f"MailPlugin(queue={queue!r}): name a queue, like 'mail'")
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1:
            raise ConfigurationError(
                f"MailPlugin(max_attempts={max_attempts!r}): give a whole number, at least 1"
            )
        self.transport = transport
        self.sender = sender
        self.templates = templates
        self.previews = previews
        self.preview_path = preview_path
        self.queue = queue
        self.max_attempts = max_attempts
        self._mailer: Mailer | None = None

    @property
    def mailer(self) -> Mailer:
        if self._mailer is None:
            raise ConfigurationError(
                "MailPlugin.mailer exists once the plugin is in an app: "
                "App(plugins=[MailPlugin(...)])"
            )
        return self._mailer

    def on_app_init(self, app: App[Any]) -> None:
        if any(isinstance(p, MailPlugin) and p is not self for p in app.plugins):
            raise ConfigurationError("App(plugins=[...]) has two MailPlugin instances; keep one")
        profile = app.settings.profile
        transport = self.transport
        if transport is None:
            transport = _setting(app, "mail_url") or None
        if transport is None:
            if profile == "prod":
                raise ConfigurationError(
                    "MailPlugin has no mail server in the prod profile: set BASTION_MAIL_URL, "
                    "e.g. smtp://user:password@smtp.example.com:587?starttls=1 (or smtps://...)"
                )
            transport = "console://" if profile == "dev" else "memory://"
        sender = self.sender if self.sender is not None else _setting(app, "mail_from") or None
        try:
            self._mailer = Mailer(transport, sender=sender, templates=self.templates)
        except ConfigurationError as exc:
            where = hide_password(transport) if isinstance(transport, str) else repr(transport)
            raise ConfigurationError(f"MailPlugin ({where}): {exc}") from None
        mailer = self._mailer

        async def provide_mailer() -> Mailer:
            return mailer

        app.provide(Mailer, provide_mailer)
        app.lifespan_contexts.append(self._lifespan)
        self._register_job(app)
        if self.previews is not None and profile == "dev":
            app.include(self.previews.router(mailer, self.preview_path))

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: App[Any]) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.mailer.close()

    def _register_job(self, app: App[Any]) -> None:
        """Add ``bastion.mail.send`` to the app's jobs, when it has ``JobsPlugin``."""
        module = sys.modules.get("bastion.jobs.plugin")
        jobs_plugin = None
        if module is not None:
            jobs_plugin = next((p for p in app.plugins if isinstance(p, module.JobsPlugin)), None)
        if jobs_plugin is not None:
            self.mailer.job = _send_job(jobs_plugin.jobs, self)

    def password_reset_sender(self, subject: str = "Reset your password") -> ResetMail:
        """The delivery ``AuthRoutes`` uses for reset links when this plugin is in the app:
        a short mail with the link, sent by the app's mailer."""
        return ResetMail(self, subject)


class ResetMail:
    """Sends an ``AuthRoutes`` reset link (``link.email``, ``link.url``) as a mail."""

    def __init__(self, plugin: MailPlugin, subject: str) -> None:
        self.plugin = plugin
        self.subject = subject

    def __call__(self, link: Any) -> Awaitable[str]:
        html = _RESET.render(url=link.url, subject=self.subject)
        message = Message(to=link.email, subject=self.subject, html=html)
        return self.plugin.mailer.send(message)


class _SendJob:
    """The ``bastion.mail.send`` job of one ``Jobs`` registry, and the mailer it sends with."""

    def __init__(self, jobs: Jobs, plugin: MailPlugin) -> None:
        from bastion.jobs.registry import Jobs

        self.mailer = plugin.mailer
        registry = Jobs()

        async def send(message: bytes, sender: str, recipients: list[str]) -> None:
            """Send a message rendered and stored by ``mailer.send(..., queue=True)``."""
            await self.mailer.deliver(Envelope.from_bytes(message, sender, recipients))

        self.job: Job[Any, Any] = registry.job(name=SEND_JOB)(send)
        jobs.include(registry)


#: One job per registry: an app built again on the same ``Jobs()`` (tests do) re-points it.
_SEND_JOBS: weakref.WeakKeyDictionary[Jobs, _SendJob] = weakref.WeakKeyDictionary()


def _send_job(jobs: Jobs, plugin: MailPlugin) -> Job[Any, Any]:
    entry = _SEND_JOBS.get(jobs)
    if entry is None:
        entry = _SEND_JOBS[jobs] = _SendJob(jobs, plugin)
    entry.mailer = plugin.mailer
    options = replace(entry.job.options, queue=plugin.queue, max_attempts=plugin.max_attempts)
    entry.job.options = options.checked(f"MailPlugin(queue={plugin.queue!r}, ...)")
    return entry.job


def _setting(app: App[Any], name: str) -> Any:
    """A mail setting from ``app.settings`` (a field an app may add) or the environment."""
    value = getattr(app.settings, name, None)
    if value is None:
        value = os.environ.get(f"BASTION_{name.upper()}")
    return value


def _reset_template() -> Any:
    import jinja2

    return jinja2.Environment(autoescape=True).from_string(
        "<p>Someone asked to reset the password of this account.</p>"
        '<p><a href="{{ url }}">Choose a new password</a></p>'
        "<p>If it was not you, ignore this mail: the password stays as it is.</p>"
    )


_RESET = _reset_template()
