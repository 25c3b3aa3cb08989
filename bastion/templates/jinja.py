"""Jinja2 templates with autoescaping on, ``url_for`` / ``static`` and the i18n extension
(``_()``, ``{% trans %}``, ``|format_date``: see ``bastion.i18n.jinja``) in every context."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

import jinja2

from bastion.exceptions import ConfigurationError
from bastion.http.response import HTMLResponse
from bastion.i18n.jinja import install as install_i18n

if TYPE_CHECKING:
    from bastion.http.request import Request

ContextProcessor = Callable[["Request"], Mapping[str, Any]]
Directory = str | PathLike[str]


class Templates:
    """``Templates("templates")``, then ``templates.render(request, "page.html", {...})``.

    Templates are compiled once and cached; ``auto_reload=True`` (for development) re-checks
    the files on every render, which costs a ``stat`` per template.
    """

    def __init__(
        self,
        directory: Directory | Sequence[Directory] | None = None,
        *,
        env: jinja2.Environment | None = None,
        context_processors: Sequence[ContextProcessor] = (),
        auto_reload: bool = False,
    ) -> None:
        if env is None:
            if directory is None:
                raise ConfigurationError("Templates needs a directory or an env=jinja2.Environment")
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(directory),
                autoescape=True,  # escape everything: static, so compiled templates skip the check
                auto_reload=auto_reload,
            )
        env.globals.setdefault("url_for", _url_for)
        env.globals.setdefault("static", _static)
        install_i18n(env)  # _(), {% trans %} and the format filters, in the request's locale
        self.env = env
        self.directory = directory
        self.context_processors = list(context_processors)
        #: Compiled templates by name, when files are not re-checked (skips Jinja's locked LRU).
        self._compiled: dict[str, jinja2.Template] | None = None if env.auto_reload else {}

    def check(self, *names: str) -> None:
        """Fail at start-up, naming the search path, if a template is missing."""
        for name in names:
            try:
                self.env.get_template(name)
            except jinja2.TemplateNotFound:
                raise ConfigurationError(
                    f"Template {name!r} not found in {self.directory!r}; create it or fix the name"
                ) from None

    def render_string(self, name: str, context: Mapping[str, Any] | None = None) -> str:
        return _render(self._template(name), dict(context) if context else {})

    def _template(self, name: str) -> jinja2.Template:
        if self._compiled is None:
            return self.env.get_template(name)
        template = self._compiled.get(name)
        if template is None:
            template = self._compiled[name] = self.env.get_template(name)
        return template

    def render(
        self,
        request: Request | None,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """Render ``name`` to an HTML response; ``request`` adds ``url_for`` and ``static``."""
        values: dict[str, Any] = dict(context) if context else {}
        if request is not None:
            values.setdefault("request", request)
            for processor in self.context_processors:
                values.update(processor(request))
        return HTMLResponse(_render(self._template(name), values), status_code, headers)


def _render(template: jinja2.Template, values: dict[str, Any]) -> str:
    """``template.render(values)``, minus its per-call flattening of the template's ChainMap
    of globals (twice: for the context and for its key set), a quarter of a small page's
    rendering. Templates with globals of their own take Jinja's own path."""
    scopes = template.globals
    if not isinstance(scopes, ChainMap) or len(scopes.maps) != 2 or scopes.maps[0]:
        return template.render(values)
    env = template.environment
    context = env.context_class(env, {**scopes.maps[1], **values}, template.name, template.blocks)
    try:
        return env.concat(template.root_render_func(context))
    except Exception:
        env.handle_exception()  # the traceback, pointed into the template


@jinja2.pass_context
def _url_for(context: jinja2.runtime.Context, name: str, /, **params: Any) -> str:
    """``{{ url_for("user", user_id=1) }}``: the path of a named route of the request's app."""
    return str(context["request"].app.url_path_for(name, **params))


@jinja2.pass_context
def _static(context: jinja2.runtime.Context, path: str) -> str:
    """``{{ static("app.css") }}``: a file under the mount named ``static``."""
    return str(context["request"].app.url_path_for("static", path=path))
