import traceback
from pathlib import Path

import pytest

from bastion import App, ConfigurationError, Request, Settings
from bastion.http.static import StaticFiles
from bastion.templates import Templates
from bastion.testing import TestClient


@pytest.fixture
def templates(tmp_path: Path) -> Templates:
    (tmp_path / "page.html").write_text(
        "<p>{{ message }}</p><a href='{{ url_for('user', user_id=7) }}'>u</a>"
        "<link href='{{ static('app.css') }}'>{{ site }}"
    )
    (tmp_path / "static").mkdir()
    return Templates(tmp_path, context_processors=[lambda request: {"site": "Bastion"}])


def app_with(templates: Templates, tmp_path: Path) -> App:
    app = App(settings=Settings(profile="test"))
    app.mount("/static", StaticFiles(tmp_path / "static"), name="static")

    @app.get("/users/{user_id}", name="user")
    async def user(user_id: int) -> str:
        return ""

    @app.get("/page")
    async def page(request: Request, message: str = "hi") -> object:
        return templates.render(request, "page.html", {"message": message}, status_code=203,
                                headers={"x-t": "1"})

    return app


def test_autoescape_blocks_script_injection(templates, tmp_path):
    client = TestClient(app_with(templates, tmp_path))
    response = client.get("/page", params={"message": "<script>alert(1)</script>"})
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_url_for_static_and_processors(templates, tmp_path):
    response = TestClient(app_with(templates, tmp_path)).get("/page")
    assert "href='/users/7'" in response.text
    assert "href='/static/app.css'" in response.text
    assert response.text.endswith("Bastion")


def test_status_headers_and_content_type(templates, tmp_path):
    response = TestClient(app_with(templates, tmp_path)).get("/page")
    assert response.status_code == 203
    assert response.headers["x-t"] == "1"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_check_reports_missing_templates(templates):
    templates.check("page.html")
    with pytest.raises(ConfigurationError, match="nope.html"):
        templates.check("nope.html")



def test_needs_a_directory():
    with pytest.raises(ConfigurationError):
        Templates()


def test_inheritance_includes_imports_globals_and_template_errors(tmp_path: Path) -> None:
    """What Jinja's own ``render`` supports, through Bastion's render path."""
    (tmp_path / "base.html").write_text("<title>{% block title %}{% endblock %}</title>"
                                        "{% block body %}{% endblock %}")
    (tmp_path / "macros.html").write_text("{% macro shout(text) %}{{ text | upper }}!{% endmacro %}")
    (tmp_path / "item.html").write_text("<li>{{ item }} {{ site }}</li>")
    (tmp_path / "page.html").write_text(
        '{% extends "base.html" %}{% import "macros.html" as m %}'
        "{% block title %}{{ m.shout(title) }}{% endblock %}"
        '{% block body %}{% for item in items %}{% include "item.html" %}{% endfor %}'
        "{% set local = 1 %}{{ url_for('page') }}{% endblock %}"
    )
    (tmp_path / "broken.html").write_text("line one\n{{ 1 // zero }}")
    templates = Templates(tmp_path)
    templates.env.globals["site"] = "Bastion"
    app = App(settings=Settings(profile="test"))

    @app.get("/page", name="page")
    async def page(request: Request):
        return templates.render(request, "page.html", {"title": "hi", "items": ["a", "<b>"]})

    html = TestClient(app).get("/page").text
    assert html == ("<title>HI!</title><li>a Bastion</li><li>&lt;b&gt; Bastion</li>/page")
    with pytest.raises(ZeroDivisionError) as error:
        templates.render_string("broken.html", {"zero": 0})
    assert any(frame.name == "top-level template code" and frame.lineno == 2
               for frame in traceback.extract_tb(error.value.__traceback__))
