"""Comments: list, add, delete your own."""

import pytest

from tests.conduit.test_users import TIMESTAMP


def test_add_a_comment(client, api):
    auth = api.register("jake")
    slug = api.article(auth, "Dragons")["slug"]
    response = client.post(f"/api/articles/{slug}/comments", headers=auth, json={"comment": {"body": "Thank you so much!"}})
    assert response.status_code == 200
    comment = response.json()["comment"]
    assert set(comment) == {"id", "createdAt", "updatedAt", "body", "author"}
    assert isinstance(comment["id"], int)
    assert comment["body"] == "Thank you so much!"
    assert TIMESTAMP.match(comment["createdAt"]) and TIMESTAMP.match(comment["updatedAt"])
    assert comment["author"] == {"username": "jake", "bio": None, "image": None, "following": False}


def test_list_comments_newest_first_with_following_per_reader(client, api):
    author, fan = api.register("author"), api.register("fan")
    slug = api.article(author, "Dragons")["slug"]
    first = api.comment(author, slug, "first")
    second = api.comment(fan, slug, "second")
    client.post("/api/profiles/author/follow", headers=fan)
    anonymous = client.get(f"/api/articles/{slug}/comments")
    assert anonymous.status_code == 200
    comments = anonymous.json()["comments"]
    assert [c["id"] for c in comments] == [second["id"], first["id"]]
    assert all(c["author"]["following"] is False for c in comments)
    seen_by_fan = client.get(f"/api/articles/{slug}/comments", headers=fan).json()["comments"]
    assert {c["author"]["username"]: c["author"]["following"] for c in seen_by_fan} == {"author": True, "fan": False}


def test_an_article_without_comments_lists_none(client, api):
    slug = api.article(api.register("jake"), "Quiet")["slug"]
    assert client.get(f"/api/articles/{slug}/comments").json() == {"comments": []}


def test_comments_of_an_unknown_article_are_404(client, api):
    auth = api.register("jake")
    assert client.get("/api/articles/nope/comments").json() == {"errors": {"article": ["not found"]}}
    response = client.post("/api/articles/nope/comments", headers=auth, json={"comment": {"body": "hi"}})
    assert response.status_code == 404
    assert response.json() == {"errors": {"article": ["not found"]}}


def test_a_blank_comment_is_422(client, api):
    auth = api.register("jake")
    slug = api.article(auth, "Dragons")["slug"]
    for body in ({"comment": {"body": ""}}, {"comment": {}}, {}):
        response = client.post(f"/api/articles/{slug}/comments", headers=auth, json=body)
        assert response.status_code == 422
    assert response.json() == {"errors": {"comment": ["can't be blank"]}}
    blank = client.post(f"/api/articles/{slug}/comments", headers=auth, json={"comment": {"body": " "}})
    assert blank.json() == {"errors": {"body": ["can't be blank"]}}


def test_commenting_needs_a_token(client, api):
    slug = api.article(api.register("jake"), "Dragons")["slug"]
    response = client.post(f"/api/articles/{slug}/comments", json={"comment": {"body": "hi"}})
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}


def test_a_comment_by_a_token_whose_user_is_gone_is_401_and_stores_nothing(client, api):
    import jwt

    from examples.conduit.auth import DEVELOPMENT_SECRET

    slug = api.article(api.register("author"), "Dragons")["slug"]
    gone = jwt.encode({"sub": "987654", "exp": 4102444800}, DEVELOPMENT_SECRET, algorithm="HS256")
    headers = {"Authorization": f"Token {gone}"}
    response = client.post(f"/api/articles/{slug}/comments", headers=headers, json={"comment": {"body": "hi"}})
    assert (response.status_code, response.json()) == (401, {"errors": {"token": ["is missing"]}})
    assert client.get(f"/api/articles/{slug}/comments").json() == {"comments": []}
    missing = client.post("/api/articles/nope/comments", headers=headers, json={"comment": {"body": "hi"}})
    assert missing.status_code == 404  # no article: nothing to say about the user


def test_delete_your_comment(client, api):
    auth = api.register("jake")
    slug = api.article(auth, "Dragons")["slug"]
    comment = api.comment(auth, slug, "oops")
    response = client.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=auth)
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/api/articles/{slug}/comments").json() == {"comments": []}


def test_deleting_someone_elses_comment_is_403(client, api):
    author, other = api.register("author"), api.register("other")
    slug = api.article(author, "Dragons")["slug"]
    comment = api.comment(author, slug, "mine")
    response = client.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=other)
    assert response.status_code == 403
    assert response.json() == {"errors": {"comment": ["forbidden"]}}
    assert len(client.get(f"/api/articles/{slug}/comments").json()["comments"]) == 1


def test_deleting_an_unknown_comment_is_404(client, api):
    auth = api.register("jake")
    slug = api.article(auth, "Dragons")["slug"]
    other_slug = api.article(auth, "Elsewhere")["slug"]
    comment = api.comment(auth, other_slug, "on the other article")
    for comment_id in (9999, comment["id"]):  # the second exists, but not on this article
        response = client.delete(f"/api/articles/{slug}/comments/{comment_id}", headers=auth)
        assert response.status_code == 404
        assert response.json() == {"errors": {"comment": ["not found"]}}
    assert client.delete(f"/api/articles/nope/comments/{comment['id']}", headers=auth).json() == {"errors": {"article": ["not found"]}}


def test_deleting_a_comment_needs_a_token(client, api):
    auth = api.register("jake")
    slug = api.article(auth, "Dragons")["slug"]
    comment = api.comment(auth, slug, "hi")
    response = client.delete(f"/api/articles/{slug}/comments/{comment['id']}")
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}


@pytest.mark.parametrize("comment_id", ["0", "2147483648", "9223372036854775808", "99999999999999999999999"])
def test_a_comment_id_no_database_holds_is_422(client, api, comment_id):
    auth = api.register("jake")
    slug = api.article(auth, "Dragons")["slug"]
    response = client.delete(f"/api/articles/{slug}/comments/{comment_id}", headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"comment_id": ["is invalid"]}}
