"""Mail previews (Rails' mailer previews): see each mail the app sends, in the browser,
without sending it.

    previews = MailPreviews()

    @previews.preview
    def welcome() -> Message:
        \"\"\"The mail a new account gets.\"\"\"
        return Message(to="ada@example.com", subject="Welcome", template="mail/welcome",
                       context={"name": "Ada"})

    App(plugins=[MailPlugin(previews=previews)])   # /_mail lists them, in the dev profile

Each preview is a function (sync or async, no arguments) returning a ``Message``; the pages
render it with the app's mailer: the headers, the HTML part (in a sandboxed frame, inline
images shown), the text part and the raw source. The routes exist only in the ``dev``
profile: in ``test`` and ``prod`` they are not registered at all.
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, overload

import jinja2

from bastion.exceptions import ConfigurationError, NotFound
from bastion.http.response import HTMLResponse, Response, TextResponse
from bastion.mail.message import STORAGE_POLICY, Message, SentMail
from bastion.routing.router import Router

if TYPE_CHECKING:
    from bastion.mail.mailer import Mailer

PreviewFunction = Callable[[], Message | EmailMessage | Awaitable[Message | EmailMessage]]
#: The framed HTML part may show its own styles and images, and do nothing else.
_SANDBOX = "sandbox; default-src 'none'; img-src data: https:; style-src 'unsafe-inline' https:"


class MailPreviews:
    """A registry of previews, by name (the function's, unless given)."""

    def __init__(self) -> None:
        self.previews: dict[str, PreviewFunction] = {}

    @overload
    def preview(self, fn: PreviewFunction) -> PreviewFunction: ...

    @overload
    def preview(self, *, name: str) -> Callable[[PreviewFunction], PreviewFunction]: ...

    def preview(
        self, fn: PreviewFunction | None = None, *, name: str | None = None
    ) -> PreviewFunction | Callable[[PreviewFunction], PreviewFunction]:
        """Register a function returning the ``Message`` to show."""

        def register(fn: PreviewFunction) -> PreviewFunction:
            key = name or getattr(fn, "__name__", "")
            if not key or "/" in key:
                raise ConfigurationError(f"mail preview {fn!r}: give it a name without '/'")
            if key in self.previews:
                raise ConfigurationError(
                    f"Two mail previews are named {key!r}: rename one, or give "
                    "@previews.preview(name='...')"
                )
            self.previews[key] = fn
            return fn

        return register(fn) if fn is not None else register

    async def render(self, name: str, mailer: Mailer) -> SentMail:
        """The preview ``name`` rendered by ``mailer``; ``NotFound`` for an unknown name."""
        fn = self.previews.get(name)
        if fn is None:
            raise NotFound(f"No mail preview is named {name!r}")
        message = fn()
        if inspect.isawaitable(message):
            message = await message
        return SentMail(mailer.render(message))

    def router(self, mailer: Mailer, prefix: str = "/_mail") -> Router:
        """The preview pages under ``prefix``."""
        router = Router(prefix, tags=["mail previews"])
        options: dict[str, Any] = {"include_in_schema": False}

        @router.get("", name="mail_previews", **options)
        async def index() -> HTMLResponse:
            rows = [(name, _summary(fn)) for name, fn in sorted(self.previews.items())]
            return HTMLResponse(_INDEX.render(prefix=prefix, rows=rows))

        @router.get("/{name}", name="mail_preview", **options)
        async def show(name: str) -> HTMLResponse:
            mail = await self.render(name, mailer)
            return HTMLResponse(_PAGE.render(prefix=prefix, name=name, mail=mail))

        @router.get("/{name}/html", name="mail_preview_html", **options)
        async def html(name: str) -> Response:
            mail = await self.render(name, mailer)
            if mail.html is None:
                raise NotFound(f"The mail preview {name!r} has no HTML part")
            body = _with_inline_images(mail)
            return HTMLResponse(body, headers={"content-security-policy": _SANDBOX})

        @router.get("/{name}/text", name="mail_preview_text", **options)
        async def text(name: str) -> TextResponse:
            mail = await self.render(name, mailer)
            return TextResponse(mail.text or "")

        @router.get("/{name}/source", name="mail_preview_source", **options)
        async def source(name: str) -> TextResponse:
            mail = await self.render(name, mailer)
            return TextResponse(mail.message.as_string(policy=STORAGE_POLICY))

        return router


def _summary(fn: PreviewFunction) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.strip().split("\n", 1)[0]


def _with_inline_images(mail: SentMail) -> str:
    """The HTML part with each ``cid:`` image as a ``data:`` URL the browser can show."""
    html = mail.html or ""
    for image in mail.inline_images:
        data = base64.b64encode(image.content).decode("ascii")
        html = html.replace(f"cid:{image.cid}", f"data:{image.content_type};base64,{data}")
    return html


_env = jinja2.Environment(autoescape=True)
_STYLE = """<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{padding:12px 20px;background:#f4f4f5;border-bottom:1px solid #ddd}
main{padding:12px 20px} table{border-collapse:collapse} th{text-align:right;padding-right:12px;
color:#666;font-weight:normal;vertical-align:top} iframe{width:100%;height:60vh;border:1px solid
#ddd} pre{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;padding:12px}
</style>"""
_INDEX = _env.from_string(
    "<!doctype html><meta charset=utf-8><title>Mail previews</title>"
    + _STYLE
    + """
<header><h1>Mail previews</h1></header><main>
{% if rows %}<ul>{% for name, summary in rows %}
<li><a href="{{ prefix }}/{{ name }}">{{ name }}</a>{% if summary %}: {{ summary }}{% endif %}</li>
{% endfor %}</ul>{% else %}<p>No preview is registered: see docs/mail.md.</p>{% endif %}
</main>"""
)
_PAGE = _env.from_string(
    "<!doctype html><meta charset=utf-8><title>{{ name }}: mail preview</title>"
    + _STYLE
    + """
<header><a href="{{ prefix }}">All previews</a><h1>{{ mail.subject }}</h1><table>
<tr><th>From</th><td>{{ mail["From"] }}</td></tr>
{% if mail.to %}<tr><th>To</th><td>{{ mail.to | join(", ") }}</td></tr>{% endif %}
{% if mail.cc %}<tr><th>Cc</th><td>{{ mail.cc | join(", ") }}</td></tr>{% endif %}
{% if mail.bcc %}<tr><th>Bcc</th><td>{{ mail.bcc | join(", ") }}</td></tr>{% endif %}
{% if mail.reply_to %}<tr><th>Reply-To</th><td>{{ mail.reply_to | join(", ") }}</td></tr>{% endif %}
{% for file in mail.attachments %}<tr><th>Attachment</th><td>{{ file.filename }}
({{ file.content_type }}, {{ file.content | length }} bytes)</td></tr>{% endfor %}
</table></header><main>
{% if mail.html is not none %}<h2>HTML</h2>
<iframe sandbox src="{{ prefix }}/{{ name }}/html" title="HTML part"></iframe>{% endif %}
<h2>Text</h2><pre>{{ mail.text }}</pre>
<p><a href="{{ prefix }}/{{ name }}/source">Source</a></p></main>"""
)
