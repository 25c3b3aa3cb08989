"""``bastion graphql schema`` prints the served schema as SDL."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bastion.cli import main
from tests.graphql.live_app import schema


def test_schema_prints_sdl() -> None:
    result = CliRunner().invoke(main, ["graphql", "schema", "tests.graphql.live_app:create_app()"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == schema.as_str().strip()
    assert "type Subscription {" in result.output
    assert "articlePublished: Article!" in result.output


def test_schema_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "schema.graphql"
    target = "tests.graphql.live_app:create_app()"
    result = CliRunner().invoke(main, ["graphql", "schema", target, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("type Article {")


def test_an_app_without_graphql_says_what_to_add() -> None:
    result = CliRunner().invoke(main, ["graphql", "schema", "tests.graphql.test_cli:plain()"])
    assert result.exit_code == 1
    assert "plugins=[GraphQL(schema)]" in result.output


def test_unknown_path_is_named() -> None:
    target = "tests.graphql.live_app:create_app()"
    result = CliRunner().invoke(main, ["graphql", "schema", target, "--path", "/other"])
    assert result.exit_code == 1
    assert "at /other" in result.output


def plain() -> object:
    from bastion import App, Settings

    return App(settings=Settings(debug=False))
