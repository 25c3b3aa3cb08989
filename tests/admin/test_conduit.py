"""Conduit's admin as `make demo` serves it (the dev profile, with its database diagnostics):
the seeded staff account signs in and can list, search, edit and delete (a user, with their
articles, comments, follows and favourites); the seeded authors, who have no grant, are
refused."""

from __future__ import annotations

import re
from pathlib import Path

from bastion import Settings
from bastion.testing import TestClient
from examples.conduit.admin import STAFF_PASSWORD, STAFF_USERNAME
from examples.conduit.app import create_app
from examples.conduit.seed import PASSWORD
from tests.admin.test_browser import conduit_database


def csrf(html: str) -> str:
    return re.search(r'name="_admin_csrf" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, username: str, password: str) -> int:
    token = csrf(client.get("/admin/login").text)
    form = {"_admin_csrf": token, "username": username, "password": password}
    return client.post("/admin/login", data=form, follow_redirects=False).status_code


def test_the_demo_admin_in_the_dev_profile(tmp_path: Path):
    url = conduit_database(tmp_path / "conduit.db")
    with TestClient(create_app(Settings(profile="dev"), database_url=url)) as client:
        assert sign_in(client, "alice@example.com", PASSWORD) == 403
        assert sign_in(client, STAFF_USERNAME, STAFF_PASSWORD) == 303
        listing = client.get("/admin/article", params={"q": "SQLite", "sort": "-created_at"})
        assert listing.status_code == 200 and "SQLite is enough to start" in listing.text
        key = re.search(r'href="/admin/article/(\d+)">SQLite', listing.text).group(1)
        edit = client.get(f"/admin/article/{key}")
        author = re.search(r'<option value="(\d+)" selected>alice<', edit.text).group(1)
        token = csrf(edit.text)
        saved = client.post(
            f"/admin/article/{key}",
            data={
                "_admin_csrf": token,
                "title": "SQLite is plenty",
                "slug": "sqlite-is-plenty",
                "description": "d",
                "body": "b",
                "author_id": author,
            },
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text
        gone = client.post(
            f"/admin/article/{key}/delete", data={"_admin_csrf": token}, follow_redirects=False
        )
        assert gone.status_code == 303
        log = client.get("/admin/audit").text
        assert "SQLite is plenty" in log and "badge-delete" in log
        alice = re.search(r'href="/admin/user/(\d+)">alice<', client.get("/admin/user").text).group(
            1
        )
        plan = client.get(f"/admin/user/{alice}/delete").text
        # her comments, reached through her articles and as their author, are counted once
        assert plan.count("× Comment") == 1 and "10 × Comment" in plan
        gone = client.post(f"/admin/user/{alice}/delete", data={"_admin_csrf": token})
        assert gone.status_code == 200 and "Deleted alice." in gone.text
        assert "0 rows" in client.get("/admin/comment").text
        assert client.get("/admin/user?f.created_at=7d").status_code == 200
        assert client.get("/admin/comment?f.author=1").status_code == 200
        assert client.get("/admin/tag?sort=name").status_code == 200
