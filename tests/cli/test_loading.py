"""How the CLI finds the app (``module:app``, ``file.py:app``, ``module:create()``) and what
it says, in one sentence, when the user's code cannot give one."""

import pytest
from click.testing import CliRunner

from bastion.cli import main

from .conftest import Write

PACKAGE_APP = """
from bastion import App, Settings
from .models import GREETING

app = App(settings=Settings(profile="test"))

@app.get("/hello")
async def hello() -> str:
    return GREETING

def create_app():
    return app
"""


def routes(*target: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["routes", *target, "--json"])
    return result.exit_code, result.output


@pytest.fixture
def package(write: Write) -> None:
    write("pkg/__init__.py", "")
    write("pkg/models.py", "GREETING = 'hi'\n")
    write("pkg/app.py", PACKAGE_APP)


@pytest.mark.parametrize("target", ["pkg/app.py:app", "pkg/app.py:create_app()", "pkg.app:app"])
def test_a_file_in_a_package_is_imported_as_its_module_so_relative_imports_work(package, target):
    code, output = routes(target)
    assert code == 0, output
    assert '"/hello"' in output


def test_a_file_in_a_package_below_a_plain_folder_imports_from_that_folder(write: Write):
    write("src/shop/__init__.py", "")
    write("src/shop/models.py", "GREETING = 'hi'\n")
    write("src/shop/app.py", PACKAGE_APP)
    code, output = routes("src/shop/app.py:app")
    assert code == 0, output


def sentence(args: list[str]) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output.strip().splitlines()


def test_an_app_that_raises_at_import_gets_one_sentence_with_the_line_that_raised(write: Write):
    write("broken.py", "import os\n\nraise RuntimeError('database password missing')\n")
    code, lines = sentence(["routes", "broken:app"])
    assert code != 0
    assert lines == [
        "Error: Importing broken failed: RuntimeError: database password missing (at broken.py:3)"
    ]


def test_the_line_named_is_the_users_even_when_a_library_raised(write: Write):
    write("shop/__init__.py", "")
    write(
        "shop/app.py",
        "from bastion import App, Settings\n\napp = App(settings=Settings(profile='nope'))\n",
    )
    code, lines = sentence(["routes", "shop/app.py:app"])
    assert code != 0
    assert len(lines) == 1 and "Traceback" not in lines[0]
    assert lines[0].endswith("(at shop/app.py:3)"), lines


def test_a_syntax_error_names_its_line(write: Write):
    write("typo.py", "from bastion import App\n\napp = App(\n")
    code, lines = sentence(["routes", "typo:app"])
    assert code != 0
    assert len(lines) == 1 and "SyntaxError" in lines[0] and "(at typo.py:3)" in lines[0]


def test_a_missing_library_is_named_with_the_import_that_needs_it(write: Write):
    write("needy.py", "import not_installed_anywhere\n")
    code, lines = sentence(["routes", "needy:app"])
    assert code != 0
    assert lines == [
        "Error: Importing needy failed: ModuleNotFoundError: No module named "
        "'not_installed_anywhere' (at needy.py:1)"
    ]


def test_a_factory_that_raises_gets_one_sentence(write: Write):
    write("factory.py", "def create_app():\n    raise ValueError('no settings')\n")
    code, lines = sentence(["routes", "factory:create_app()"])
    assert code != 0
    assert lines == [
        "Error: Calling factory:create_app() failed: ValueError: no settings (at factory.py:2)"
    ]


@pytest.mark.parametrize("command", ["routes", "openapi"])
def test_a_route_mistake_gets_its_sentence_without_a_traceback(write: Write, command):
    write(
        "badroutes.py",
        "from bastion import App, Settings\n"
        "app = App(settings=Settings(profile='test'))\n"
        "class Thing: ...\n"
        "@app.get('/x')\n"
        "async def x(t: Thing) -> dict:\n"
        "    return {}\n",
    )
    code, lines = sentence([command, "badroutes:app"])
    assert code != 0
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: badroutes:app cannot start: route GET /x parameter `t`")
