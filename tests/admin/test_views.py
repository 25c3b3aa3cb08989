"""The admin's pages over HTTP: signing in, lists (search, filters, sort, pages), forms,
deletion with its cascade, bulk actions, the audit log, permissions and CSRF, and bad input
answered with 4xx, never 500."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.admin.conftest import PASSWORD, csrf_of, sign_in


def titles(html: str) -> list[str]:
    return re.findall(r'<th scope="row"[^>]*><a href="/admin/post/\d+">([^<]+)</a>', html)


def test_anonymous_pages_redirect_to_the_login_with_the_page_to_come_back_to(client):
    response = client.get("/admin/post?q=cats", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=%2Fadmin%2Fpost%3Fq%3Dcats"


def test_signing_in_lands_on_the_next_page_and_never_on_another_site(client):
    page = client.get("/admin/login?next=/admin/post")
    token = csrf_of(page.text)
    form = {"_admin_csrf": token, "username": "root@example.com", "password": PASSWORD}
    response = client.post(
        "/admin/login", data={**form, "next": "/admin/post"}, follow_redirects=False
    )
    assert response.headers["location"] == "/admin/post"
    client.cookies.clear()
    token = csrf_of(client.get("/admin/login").text)
    form["_admin_csrf"] = token
    response = client.post(
        "/admin/login", data={**form, "next": "//evil.example/admin"}, follow_redirects=False
    )
    assert response.headers["location"] == "/admin"


def test_a_wrong_password_shows_the_login_again(client):
    token = csrf_of(client.get("/admin/login").text)
    response = client.post(
        "/admin/login", data={"_admin_csrf": token, "username": "root", "password": "nope"}
    )
    assert response.status_code == 400
    assert "Wrong username or password." in response.text


def test_a_user_without_grants_is_refused_as_not_staff(client):
    token = csrf_of(client.get("/admin/login").text)
    response = client.post(
        "/admin/login", data={"_admin_csrf": token, "username": "nobody", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "not a staff account" in response.text
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_the_login_form_needs_its_csrf_token(client):
    client.get("/admin/login")
    response = client.post("/admin/login", data={"username": "root", "password": PASSWORD})
    assert response.status_code == 403


def test_the_dashboard_lists_the_models_with_their_counts(client):
    sign_in(client)
    html = client.get("/admin").text
    assert 'href="/admin/post"' in html and ">12<" in html


def test_the_list_is_paged_sorted_and_names_foreign_keys(client):
    sign_in(client)
    first = client.get("/admin/post")
    assert "12 rows" in first.text and "Page 1 of 3" in first.text
    assert titles(first.text)[0] == "Post 00"  # default ordering: newest first
    assert '<td data-label="Author">Bob</td>' in first.text
    by_title = client.get("/admin/post?sort=title")
    assert titles(by_title.text)[:2] == ["Post 00", "Post 01"]
    backwards = client.get("/admin/post?sort=-title&page=3")
    assert titles(backwards.text) == ["Post 01", "Post 00"]
    assert client.get("/admin/post?page=99").status_code == 200  # the last page


def test_search_matches_every_word_and_takes_percent_and_underscore_literally(client):
    sign_in(client)
    assert len(titles(client.get("/admin/post", params={"q": "cats"}).text)) == 5
    assert titles(client.get("/admin/post", params={"q": "100%"}).text) == ["Post 03 100% _done_"]
    assert titles(client.get("/admin/post", params={"q": "_done_ cats"}).text) == [
        "Post 03 100% _done_"
    ]
    assert titles(client.get("/admin/post", params={"q": "%"}).text) == ["Post 03 100% _done_"]
    assert (
        "Nothing found." in client.get("/admin/post", params={"q": "'; DROP TABLE posts; --"}).text
    )


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ({"f.featured": "1"}, 4),
        ({"f.featured": "0"}, 8),
        ({"f.status": "published"}, 3),
        ({"f.created_at": "30d"}, 3),
        ({"f.author": "1"}, 6),
        ({"f.author": "1", "f.featured": "1", "q": "cats"}, 2),
    ],
)
def test_filters_narrow_the_list(client, query, count):
    sign_in(client)
    html = client.get("/admin/post", params=query).text
    assert f"{count} rows" in html


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"sort": "password"}, "query.sort"),
        ({"sort": "-body"}, "query.sort"),
        ({"f.body": "x"}, "query.f.body"),
        ({"f.featured": "yes"}, "query.f.featured"),
        ({"f.status": "gone"}, "query.f.status"),
        ({"f.created_at": "1970-01-01"}, "query.f.created_at"),
        ({"f.author": "Ada"}, "query.f.author"),
        ({"page": "0"}, "query.page"),
        ({"page": "-1"}, "query.page"),
        ({"page": "1e9"}, "query.page"),
        ({"page": "99999999999999999999"}, "query.page"),
        ({"q": "x" * 201}, "query.q"),
        ({"where": "1=1"}, "query.where"),
        ({"f.": "1"}, "query.f."),
        ({"sort": "-"}, "query.sort"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(client, query, field):
    sign_in(client)
    response = client.get("/admin/post", params=query)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    "path",
    [
        "/admin/nothing",
        "/admin/post/abc",
        "/admin/post/99999",
        "/admin/post/1.5",
        "/admin/post/%00",
        "/admin/post/99999/delete",
        "/admin/static/../site.py",
        "/admin/post/" + "9" * 40,
    ],
)
def test_unknown_models_and_ids_are_404(client, path):
    sign_in(client)
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {"q": "\x00"},
        {"q": "a\x00b"},
        {"f.author": "\x00"},
        {"f.author": "9" * 30},
        {"q": "\\"},
        {"q": "é ünïcode 🐍"},
        {"f.author": ""},
    ],
)
def test_hostile_list_queries_never_fail_the_server(client, query):
    sign_in(client)
    assert client.get("/admin/post", params=query).status_code < 500


def test_a_bad_edit_is_shown_again_with_its_message_and_values(client):
    token = sign_in(client)
    response = client.post(
        "/admin/post/1",
        data={
            "_admin_csrf": token,
            "title": "x" * 200,
            "body": "kept",
            "status": "Draft",
            "author_id": "1",
        },
    )
    assert response.status_code == 422
    assert "kept" in response.text and 'aria-invalid="true"' in response.text
    assert "Please correct the errors below." in response.text


def test_an_edit_is_saved_and_audited_with_before_and_after(client):
    token = sign_in(client)
    response = client.post(
        "/admin/post/1",
        data={
            "_admin_csrf": token,
            "title": "Renamed",
            "body": "about dogs",
            "status": "Draft",
            "author_id": "2",
            "featured": "on",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"])
    assert "Saved Renamed." in page.text
    log = client.get("/admin/audit?model=post&object=1").text
    assert "Renamed" in log and "change" in log and "&#34;Post 00&#34;" in log
    assert "author_id, featured, status, title" in log or "title" in log


def test_many_to_many_rows_are_chosen_in_the_form_and_logged(client):
    token = sign_in(client)
    page = client.get("/admin/post/2").text
    assert 'name="labels"' in page and ">howto<" in page
    form = {
        "_admin_csrf": token,
        "title": "Post 01",
        "body": "about cats",
        "status": "Draft",
        "author_id": "1",
        "labels": ["1", "2"],
    }
    assert client.post("/admin/post/2", data=form, follow_redirects=False).status_code == 303
    assert re.search(r'value="2" selected>howto<', client.get("/admin/post/2").text)
    log = client.get("/admin/audit?model=post&object=2").text
    assert "labels" in log
    assert "2 × post_labels" in client.get("/admin/post/2/delete").text  # the links go too
    client.post("/admin/post/2/delete", data={"_admin_csrf": token})
    assert client.get("/admin/label/2").status_code == 200  # not the labels themselves
    deleted = client.get("/admin/audit?model=post&object=2").text
    assert "badge-delete" in deleted and "&#34;labels&#34;: [\n  1,\n  2\n ]" in deleted


def test_adding_a_row_redisplays_errors_then_creates_it(client):
    token = sign_in(client)
    bad = client.post(
        "/admin/post/add", data={"_admin_csrf": token, "title": "", "author_id": "999"}
    )
    assert bad.status_code == 422
    good = client.post(
        "/admin/post/add",
        data={
            "_admin_csrf": token,
            "title": "Brand new",
            "body": "",
            "status": "Published",
            "author_id": "1",
        },
        follow_redirects=False,
    )
    assert good.status_code == 303, good.text
    assert "Brand new" in client.get(good.headers["location"]).text
    assert "13 rows" in client.get("/admin/post").text
    assert "badge-add" in client.get("/admin/audit?model=post").text


def test_the_add_page_takes_initial_values_from_the_query(client):
    sign_in(client)
    assert client.get("/admin/note/add?post_id=1").status_code == 200


def test_the_edit_page_lists_inline_related_rows(client):
    sign_in(client)
    html = client.get("/admin/post/1").text
    assert "first note" in html and "second" in html


def test_delete_confirmation_lists_the_cascade_then_removes_it_all(client, app):
    token = sign_in(client)
    page = client.get("/admin/post/1/delete")
    assert "2 × Note" in page.text and "first note" in page.text
    response = client.post(
        "/admin/post/1/delete", data={"_admin_csrf": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert "11 rows" in client.get("/admin/post").text
    assert "0 rows" in client.get("/admin/note").text
    assert "badge-delete" in client.get("/admin/audit").text
    authors = client.get("/admin/author/1/delete").text
    assert "6 × Post" in authors


def test_a_bulk_action_asks_for_confirmation_then_runs_and_is_audited(client):
    token = sign_in(client)
    form = {"_admin_csrf": token, "action": "feature", "ids": ["2", "3"]}
    confirm = client.post("/admin/post/action", data=form)
    assert confirm.status_code == 200 and "Post 01" in confirm.text and "Post 02" in confirm.text
    done = client.post("/admin/post/action", data={**form, "confirm": "1"}, follow_redirects=False)
    assert done.status_code == 303
    assert "Featured 2 posts." in client.get("/admin/post").text
    assert "6 rows" in client.get("/admin/post?f.featured=1").text
    assert client.get("/admin/audit?model=post").text.count("badge-action") == 2


def test_bulk_delete_confirms_with_the_cascade(client):
    token = sign_in(client)
    form = {"_admin_csrf": token, "action": "delete_selected", "ids": ["1", "2"]}
    confirm = client.post("/admin/post/action", data=form)
    assert "2 × Note" in confirm.text
    client.post("/admin/post/action", data={**form, "confirm": "1"})
    assert "10 rows" in client.get("/admin/post").text


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"action": "drop_tables", "ids": ["1"]}, "body.action"),
        ({"action": "feature", "ids": ["one"]}, "body.ids"),
        ({"action": "feature", "ids": [str(i) for i in range(501)]}, "body.ids"),
    ],
)
def test_bad_bulk_actions_are_422(client, data, field):
    token = sign_in(client)
    response = client.post("/admin/post/action", data={"_admin_csrf": token, **data})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_every_post_needs_the_admin_csrf_token(client):
    sign_in(client)
    for path, data in [
        ("/admin/post/1", {"title": "x"}),
        ("/admin/post/add", {"title": "x"}),
        ("/admin/post/1/delete", {}),
        ("/admin/post/action", {"action": "feature", "ids": ["1"]}),
        ("/admin/logout", {}),
    ]:
        response = client.post(path, data={**data, "_admin_csrf": "forged"})
        assert response.status_code == 403, path
    assert "Post 00" in client.get("/admin/post/1").text


def test_a_viewer_sees_but_cannot_change_add_delete_or_read_the_log(client):
    token = sign_in(client, "viewer")
    html = client.get("/admin/post").text
    assert "Post 00" in html and "Delete selected" not in html and "/admin/post/add" not in html
    assert "/admin/note" not in client.get("/admin").text
    assert "disabled" in client.get("/admin/post/1").text
    assert client.get("/admin/note").status_code == 403
    refused = client.get("/admin/post/add")
    assert refused.status_code == 403 and "You may not add posts." in refused.text
    assert client.get("/admin/post/1/delete").status_code == 403
    assert client.get("/admin/audit").status_code == 403
    assert (
        client.post("/admin/post/1", data={"_admin_csrf": token, "title": "x"}).status_code == 403
    )
    action = {"_admin_csrf": token, "action": "feature", "ids": ["1"], "confirm": "1"}
    assert client.post("/admin/post/action", data=action).status_code == 403
    assert "Post 00" in client.get("/admin/post/1").text


def test_signing_out_ends_the_session(client):
    token = sign_in(client)
    client.post("/admin/logout", data={"_admin_csrf": token})
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_bad_audit_parameters_are_422(client):
    sign_in(client)
    assert client.get("/admin/audit?model=nope").status_code == 422
    assert client.get("/admin/audit?page=x").status_code == 422
    assert client.get("/admin/audit?sort=at").status_code == 422


def test_a_list_page_costs_one_count_one_page_query_and_one_per_foreign_key(client, app):
    sign_in(client)
    from bastion.db import SQLAlchemyPlugin

    database = next(p for p in app.plugins if isinstance(p, SQLAlchemyPlugin))
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa.event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        client.get("/admin/post?q=about")
    finally:
        sa.event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    posts = [s for s in statements if "FROM posts" in s]
    authors = [s for s in statements if "FROM authors" in s]
    assert len(posts) == 2  # the COUNT and the page (filter choices read other tables)
    assert len(authors) == 2  # the page's author names, and the author filter's choices
