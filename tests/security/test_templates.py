import re

import jinja2
import pytest

from bastion.exceptions import ConfigurationError
from bastion.security import install_template_globals
from bastion.templates import Templates
from bastion.testing import TestClient
from tests.security._apps import BASE, templated_app


def test_csrf_input_is_one_hidden_input(tmp_path):
    html = TestClient(templated_app(tmp_path), base_url=BASE).get("/form").text
    match = re.search(r'<input type="hidden" name="csrf_token" value="([A-Za-z0-9_.-]+)">', html)
    assert match is not None, html


def test_helpers_without_a_request_say_how_to_render():
    templates = Templates(env=jinja2.Environment(autoescape=True, loader=jinja2.DictLoader(
        {"t.html": "{{ csrf_token() }}"})))
    install_template_globals(templates)
    with pytest.raises(ConfigurationError, match=r"templates.render\(request"):
        templates.render(None, "t.html")
