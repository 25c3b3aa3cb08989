"""Registrations are checked when they are made: a misspelt column, a search on a column that
is not text, an unknown action or a missing database fail at start-up with the fix; an app's
own ``permissions`` function replaces the grants table."""

from __future__ import annotations

import re

import pytest

from bastion import App, Settings
from bastion.admin import Admin
from bastion.exceptions import ConfigurationError
from bastion.testing import TestClient
from tests.admin.conftest import PASSWORD, Person, Post, build, create_tables, csrf_of, populate


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"list_display": ["titel"]}, "Post has no column 'titel' (it has id, title"),
        ({"search": ["featured"]}, "search looks in text columns"),
        ({"filters": ["nope"]}, "filters: Post has no column 'nope'"),
        ({"ordering": ["-nope"]}, "ordering: Post has no column 'nope'"),
        ({"actions": [print]}, "decorate the function with @action()"),
        ({"per_page": 0}, "per_page=0: give 1 to 500"),
        ({"name": "Posts!"}, "name it with lowercase letters"),
        ({"name": "audit"}, "the name 'audit' is taken"),
    ],
)
def test_a_bad_registration_fails_at_start_up_naming_the_fix(options, message):
    admin = Admin(user_model=Person)
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        admin.register(Post, **options)


def test_the_user_model_needs_its_login_columns_and_a_password_hash():
    with pytest.raises(ConfigurationError, match="has no column login"):
        Admin(user_model=Person, login_fields=["login"])
    with pytest.raises(ConfigurationError, match="password_hash column"):
        Admin(user_model=Post, login_fields=["title"])


def test_the_admin_needs_the_database_plugin():
    with pytest.raises(ConfigurationError, match="add SQLAlchemyPlugin"):
        App(settings=Settings(profile="test"), plugins=[Admin(user_model=Person)])


def test_a_permissions_function_replaces_the_grants(tmp_path):
    async def by_name(user, db):
        return {"post.view"} if user.username == "nobody" else set()

    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    app = build(url)
    admin = next(p for p in app.plugins if isinstance(p, Admin))
    admin.permissions = by_name
    with TestClient(app) as client:
        client.portal.call(create_tables(url))
        client.portal.call(populate(app))
        token = csrf_of(client.get("/admin/login").text)
        refused = client.post(
            "/admin/login", data={"_admin_csrf": token, "username": "root", "password": PASSWORD}
        )
        assert refused.status_code == 403  # root's "*" grant does not count any more
        client.post(
            "/admin/login", data={"_admin_csrf": token, "username": "nobody", "password": PASSWORD}
        )
        assert client.get("/admin/post").status_code == 200
        assert client.get("/admin/author").status_code == 403


def test_two_sites_name_the_same_model_each_their_own_way():
    from tests.admin.conftest import Author

    first, second = Admin(user_model=Person), Admin(user_model=Person)
    first.register(Author, display="name")
    second.register(Author, display=lambda author: f"author #{author.id}")
    ada = Author(id=1, name="Ada")
    assert first.name_row(ada) == "Ada"
    assert second.name_row(ada) == "author #1"
