"""The Jinja side: macros an app can call piece by piece or override, the default theme."""

from __future__ import annotations

from pathlib import Path

import jinja2

from bastion import App, Request, Settings
from bastion.forms import STYLESHEET, BooleanField, Form, StringField, install_forms
from bastion.security import SecurityPlugin
from bastion.templates import Templates
from bastion.testing import TestClient


class Contact(Form):
    name = StringField("Name <b>", max_length=10, help="Your <full> name")
    consent = BooleanField("OK?")


def render(source: str, **context: object) -> str:
    templates = Templates(
        env=jinja2.Environment(autoescape=True, loader=jinja2.DictLoader({"p": source}))
    )
    install_forms(templates)
    return templates.render_string("p", context)


async def test_field_macro_takes_extra_attributes_and_escapes_everything():
    form = Contact({"name": '"><script>alert'})
    await form.validate()
    html = render(
        '{% import "forms/macros.html" as forms %}'
        '{{ forms.field(form["name"], placeholder="Ann", data_role="x", autofocus=true) }}',
        form=form,
    )
    assert 'value="&#34;&gt;&lt;script&gt;alert"' in html
    assert "<script>" not in html
    assert "Name &lt;b&gt;" in html and "Your &lt;full&gt; name" in html
    assert 'placeholder="Ann" data-role="x" autofocus' in html
    assert 'aria-invalid="true" aria-describedby="id_name-help id_name-errors"' in html
    assert (
        '<ul class="bf-errors" id="id_name-errors"><li>Enter at most 10 characters.</li></ul>'
        in html
    )


async def test_pieces_compose_a_custom_layout():
    form = await Contact.blank(initial={"name": "Ann", "consent": True})
    html = render(
        '{% import "forms/macros.html" as forms %}<form method="post">{{ forms.errors(form) }}'
        '{{ form.csrf_input }}{{ forms.label(form["name"]) }}{{ forms.widget(form["name"]) }}'
        '{{ forms.widget(form["consent"]) }}{{ forms.submit("Go") }}</form>',
        form=form,
    )
    assert '<label class="bf-label" for="id_name">Name &lt;b&gt;</label>' in html
    assert 'name="name" value="Ann"' in html
    assert 'name="consent" value="on" checked' in html
    assert '<button class="bf-button" type="submit">Go</button>' in html
    assert "bf-summary" not in html  # no errors, no summary
    assert "csrf_token" not in html  # no request, no CSRF middleware: nothing to carry


async def test_get_forms_have_no_csrf_input_nor_enctype():
    html = render(
        '{% import "forms/macros.html" as forms %}{{ forms.form(form, method="get") }}',
        form=Contact(),
    )
    assert 'method="get">' in html and "enctype" not in html


def test_an_app_overrides_the_macros_with_its_own_file(tmp_path: Path):
    (tmp_path / "forms").mkdir()
    (tmp_path / "forms" / "macros.html").write_text("{% macro form(form) %}MINE{% endmacro %}")
    (tmp_path / "page.html").write_text(
        '{% import "forms/macros.html" as forms %}{{ forms.form(form) }}'
    )
    templates = Templates(tmp_path)
    install_forms(templates)
    install_forms(templates)  # idempotent: one forms loader
    assert templates.render_string("page.html", {"form": Contact()}) == "MINE"
    loaders = templates.env.loader.loaders  # type: ignore[union-attr]
    assert len(loaders) == 2


def test_stylesheet_is_inlined_with_the_csp_nonce_when_security_headers_are_on():
    templates = Templates(
        env=jinja2.Environment(
            autoescape=True,
            loader=jinja2.DictLoader({"page.html": "<head>{{ forms_stylesheet() }}</head>"}),
        )
    )
    install_forms(templates)
    app = App(settings=Settings(profile="test", secret_key="s" * 40), plugins=[SecurityPlugin()])

    @app.get("/")
    async def page(request: Request) -> object:
        return templates.render(request, "page.html")

    response = TestClient(app).get("/")
    nonce = response.text.split('nonce="')[1].split('"')[0]
    assert f"'nonce-{nonce}'" in response.headers["content-security-policy"]
    assert ".bf-form {" in response.text
    assert STYLESHEET.read_text() in response.text
    assert render("{{ forms_stylesheet() }}").startswith("<style>/*")


def test_default_theme_covers_every_class_the_macros_use():
    macros = (STYLESHEET.parent / "macros.html").read_text()
    css = STYLESHEET.read_text()
    import re

    used = set(re.findall(r"\bbf-[a-z-]+", macros)) - {"bf-field-"}
    styled = set(re.findall(r"\.(bf-[a-z-]+)", css))
    assert used - styled <= {
        "bf-required",
        "bf-field-checkbox",
        "bf-field-radio",
        "bf-field-checkboxes",
    }
    assert "light-dark(" in css
