"""SocialRoutes' configuration: providers from settings, and mistakes caught at start-up."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from bastion import App, Settings
from bastion.auth import AuthPlugin, SessionAuth, SessionPlugin
from bastion.auth.social import GitHubProvider, OIDCProvider, SocialRoutes
from bastion.db import SQLAlchemyPlugin
from bastion.exceptions import ConfigurationError
from bastion.testing import TestClient
from tests.auth.conftest import SECRET, app_with_database

GITHUB = {"client_id": "gh-id", "client_secret": "gh-secret"}


def test_providers_come_from_the_environment(tmp_path: Path) -> None:
    environ = {
        "BASTION_SOCIAL_CREDENTIALS": '{"github": {"client_id": "gh-id", "client_secret": "s"},'
        ' "acme": {"issuer": "https://id.acme.test", "client_id": "a", "client_secret": "s"}}'
    }
    settings = Settings.load(environ=environ, env_file=None, toml_file=None, profile="test")
    routes = SocialRoutes()
    App(
        settings=settings,
        plugins=[
            SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path}/x.db"),
            SessionPlugin(),
            AuthPlugin(SessionAuth()),
            routes,
        ],
    )
    assert isinstance(routes.providers["github"], GitHubProvider)
    acme = routes.providers["acme"]
    assert isinstance(acme, OIDCProvider) and acme.issuer == "https://id.acme.test"


def test_github_sign_in_redirects_with_pkce_and_state(tmp_path: Path) -> None:
    app, _ = app_with_database(
        f"sqlite+aiosqlite:///{tmp_path}/x.db",
        lambda database: [SessionPlugin(), AuthPlugin(SessionAuth()), SocialRoutes()],
        social_credentials={"github": GITHUB},
    )
    with TestClient(app, follow_redirects=False) as client:
        started = client.get("/auth/social/github/login")
    location = urlsplit(started.headers["location"])
    query = dict(parse_qsl(location.query))
    assert (location.netloc, location.path) == ("github.com", "/login/oauth/authorize")
    assert query["code_challenge_method"] == "S256" and query["client_id"] == "gh-id"
    assert query["scope"] == "read:user user:email" and "nonce" not in query
    assert query["redirect_uri"] == "http://testserver/auth/social/github/callback"


@pytest.mark.parametrize(
    ("credentials", "words"),
    [
        ({"acme": {"client_id": "a", "client_secret": "s"}}, "issuer"),
        ({"github": {"client_id": "a"}}, "client_secret"),
        (
            {"Bad Name": {"issuer": "https://x.test", "client_id": "a", "client_secret": "s"}},
            "lower-case",
        ),
        (
            {"acme": {"issuer": "http://id.acme.test", "client_id": "a", "client_secret": "s"}},
            "https",
        ),
        ({}, "no providers"),
    ],
)
def test_misconfiguration_fails_at_start_up(
    tmp_path: Path, credentials: dict[str, dict[str, str]], words: str
) -> None:
    settings = Settings(profile="test", secret_key=SECRET, social_credentials=credentials)
    database = SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    with pytest.raises(ConfigurationError, match=words):
        plugins = [database, SessionPlugin(), AuthPlugin(SessionAuth()), SocialRoutes()]
        App(settings=settings, plugins=plugins)


def test_social_routes_need_sessions_and_the_database(tmp_path: Path) -> None:
    settings = Settings(profile="test", social_credentials={"github": GITHUB})
    with pytest.raises(ConfigurationError, match="SessionPlugin"):
        App(
            settings=settings,
            plugins=[SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path}/x.db"), SocialRoutes()],
        )
    with pytest.raises(ConfigurationError, match="SQLAlchemyPlugin"):
        App(settings=settings, plugins=[SessionPlugin(), SocialRoutes()])
    with pytest.raises(ConfigurationError, match="AuthPlugin"):
        App(
            settings=settings,
            plugins=[
                SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path}/x.db"),
                SessionPlugin(),
                SocialRoutes(),
            ],
        )
