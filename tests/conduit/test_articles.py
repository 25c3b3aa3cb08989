"""Articles: create, read, list with filters and pages, the feed, update, delete, favourite."""

import pytest

from tests.conduit.test_users import TIMESTAMP

ARTICLE = {"title": "How to train your dragon", "description": "Ever wonder how?", "body": "Very carefully.", "tagList": ["training", "dragons"]}


def test_create_answers_201_with_the_article(client, api):
    auth = api.register("jake")
    response = client.post("/api/articles", headers=auth, json={"article": ARTICLE})
    assert response.status_code == 201
    article = response.json()["article"]
    assert set(article) == {"slug", "title", "description", "body", "tagList", "createdAt", "updatedAt", "favorited", "favoritesCount", "author"}
    assert article["slug"] == "how-to-train-your-dragon"
    assert (article["title"], article["description"], article["body"]) == (ARTICLE["title"], ARTICLE["description"], ARTICLE["body"])
    assert article["tagList"] == ["dragons", "training"]  # sorted, as RealWorld's reference
    assert TIMESTAMP.match(article["createdAt"]) and article["createdAt"] == article["updatedAt"]
    assert (article["favorited"], article["favoritesCount"]) == (False, 0)
    assert article["author"] == {"username": "jake", "bio": None, "image": None, "following": False}


def test_a_new_article_reads_the_clock_once_for_both_stamps(client, api, monkeypatch):
    from datetime import UTC, datetime, timedelta

    import examples.conduit.models as models

    ticks = iter(datetime(2030, 1, 1, tzinfo=UTC) + timedelta(milliseconds=n) for n in range(100))
    monkeypatch.setattr(models, "utcnow", lambda: next(ticks))  # every reading a millisecond on
    auth = api.register("jake")
    article = api.article(auth, "Stamped")
    assert article["createdAt"].startswith("2030-01-01T00:00:00.") and article["createdAt"] == article["updatedAt"]


def test_tag_list_is_optional_and_drops_blanks_and_repeats(client, api):
    auth = api.register("jake")
    assert api.article(auth, "No tags")["tagList"] == []
    assert api.article(auth, "Messy tags", tags=["b", "", "a", "b", " "])["tagList"] == ["a", "b"]


def test_the_same_title_twice_gets_a_second_slug(client, api):
    auth = api.register("jake")
    assert api.article(auth, "Hello, World!")["slug"] == "hello-world"
    assert api.article(auth, "Hello world")["slug"] == "hello-world-2"
    assert api.article(auth, "¡Héllo wörld!")["slug"] == "hello-world-3"


@pytest.mark.parametrize("field", ["title", "description", "body"])
def test_create_with_a_blank_field_is_422(client, api, field):
    auth = api.register("jake")
    for value in ("", "  "):
        response = client.post("/api/articles", headers=auth, json={"article": {**ARTICLE, field: value}})
        assert response.status_code == 422
        assert response.json() == {"errors": {field: ["can't be blank"]}}
    missing = {k: v for k, v in ARTICLE.items() if k != field}
    assert client.post("/api/articles", headers=auth, json={"article": missing}).json() == {"errors": {field: ["can't be blank"]}}


def test_create_with_a_bad_tag_list_is_422(client, api):
    auth = api.register("jake")
    response = client.post("/api/articles", headers=auth, json={"article": {**ARTICLE, "tagList": "dragons"}})
    assert response.status_code == 422
    assert response.json() == {"errors": {"tagList": ["is invalid"]}}


def test_create_without_the_article_object_is_422(client, api):
    response = client.post("/api/articles", headers=api.register("jake"), json=ARTICLE)
    assert response.status_code == 422
    assert response.json() == {"errors": {"article": ["can't be blank"]}}


def test_create_needs_a_token(client):
    response = client.post("/api/articles", json={"article": ARTICLE})
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}


def test_read_one_article_anonymously(client, api):
    created = api.article(api.register("jake"), "Dragons", tags=["x"])
    response = client.get(f"/api/articles/{created['slug']}")
    assert response.status_code == 200
    assert response.json() == {"article": created}


def test_unknown_article_is_404(client):
    response = client.get("/api/articles/no-such-article")
    assert response.status_code == 404
    assert response.json() == {"errors": {"article": ["not found"]}}


# -- lists -----------------------------------------------------------------------------------
def test_list_is_newest_first_without_bodies(client, api):
    auth = api.register("jake")
    for title in ("First", "Second", "Third"):
        api.article(auth, title)
    response = client.get("/api/articles")
    assert response.status_code == 200
    listing = response.json()
    assert listing["articlesCount"] == 3
    assert [a["title"] for a in listing["articles"]] == ["Third", "Second", "First"]
    assert all("body" not in a for a in listing["articles"])
    assert set(listing["articles"][0]) == {"slug", "title", "description", "tagList", "createdAt", "updatedAt", "favorited", "favoritesCount", "author"}


def test_an_empty_list(client):
    assert client.get("/api/articles").json() == {"articles": [], "articlesCount": 0}


def test_limit_and_offset_page_the_list_and_the_count_is_the_total(client, api):
    auth = api.register("jake")
    for number in range(25):
        api.article(auth, f"Article {number}")
    default = client.get("/api/articles").json()
    assert (len(default["articles"]), default["articlesCount"]) == (20, 25)
    page = client.get("/api/articles?limit=2&offset=1").json()
    assert [a["title"] for a in page["articles"]] == ["Article 23", "Article 22"]
    assert page["articlesCount"] == 25
    assert client.get("/api/articles?offset=24").json()["articles"][0]["title"] == "Article 0"
    assert client.get("/api/articles?offset=100").json() == {"articles": [], "articlesCount": 25}


@pytest.mark.parametrize(("query", "field"), [
    ("limit=-1", "limit"), ("limit=x", "limit"), ("offset=-3", "offset"), ("limit=100000", "limit"),
    ("offset=9223372036854775808", "offset"), ("offset=2147483648", "offset"),
    ("limit=99999999999999999999999", "limit"),
])
@pytest.mark.parametrize("path", ["/api/articles", "/api/articles/feed"])
def test_bad_limit_or_offset_is_422(client, api, path, query, field):
    """Offsets no database holds (SQLite's driver overflowed: a 500) are bad input too."""
    response = client.get(f"{path}?{query}", headers=api.register("jake"))
    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]


def test_the_largest_offset_is_an_empty_page(client, api):
    response = client.get("/api/articles?offset=2147483647", headers=api.register("jake"))
    assert response.json() == {"articles": [], "articlesCount": 0}


def test_tag_lists_are_sorted_wherever_an_article_is_shown(client, api):
    """RealWorld's reference (and its conformance suite) shows tagList sorted by name."""
    jake, anna = api.register("jake"), api.register("anna")
    client.post("/api/profiles/jake/follow", headers=anna)
    tags = ["training", "dragons", "Zebra", "apple"]
    ordered = ["Zebra", "apple", "dragons", "training"]
    slug = api.article(jake, "Dragons", tags=tags)["slug"]
    assert api.article(jake, "Copy", tags=tags)["tagList"] == ordered  # create
    shown = [
        client.get(f"/api/articles/{slug}").json()["article"],
        client.get("/api/articles").json()["articles"][0],
        client.get("/api/articles/feed", headers=anna).json()["articles"][0],
        client.post(f"/api/articles/{slug}/favorite", headers=anna).json()["article"],
        client.delete(f"/api/articles/{slug}/favorite", headers=anna).json()["article"],
        client.put(f"/api/articles/{slug}", headers=jake, json={"article": {"body": "New"}}).json()["article"],
    ]
    assert [article["tagList"] for article in shown] == [ordered] * len(shown)
    changed = client.put(f"/api/articles/{slug}", headers=jake, json={"article": {"tagList": ["b", "a"]}})
    assert changed.json()["article"]["tagList"] == ["a", "b"]


def test_filter_by_tag_author_and_favorited(client, api):
    jake, anna = api.register("jake"), api.register("anna")
    api.article(jake, "Jake on dragons", tags=["dragons"])
    api.article(jake, "Jake on cats", tags=["cats"])
    anna_dragons = api.article(anna, "Anna on dragons", tags=["dragons", "cats"])
    client.post(f"/api/articles/{anna_dragons['slug']}/favorite", headers=jake)

    def titles(query):
        listing = client.get(f"/api/articles?{query}").json()
        assert listing["articlesCount"] == len(listing["articles"])
        return [a["title"] for a in listing["articles"]]

    assert titles("tag=dragons") == ["Anna on dragons", "Jake on dragons"]
    assert titles("author=jake") == ["Jake on cats", "Jake on dragons"]
    assert titles("favorited=jake") == ["Anna on dragons"]
    assert titles("favorited=anna") == []
    assert titles("tag=cats&author=jake") == ["Jake on cats"]
    assert titles("tag=nothing") == []
    assert titles("author=nobody") == []
    page = client.get("/api/articles?tag=dragons&limit=1").json()
    assert ([a["title"] for a in page["articles"]], page["articlesCount"]) == (["Anna on dragons"], 2)


def test_filters_are_never_sql(client, api):
    api.article(api.register("jake"), "Safe", tags=["x"])
    for value in ("' OR '1'='1", "x%", "%", "x'; DROP TABLE articles; --"):
        assert client.get("/api/articles", params={"tag": value}).json()["articlesCount"] == 0
        assert client.get("/api/articles", params={"author": value}).json()["articlesCount"] == 0
    assert client.get("/api/articles").json()["articlesCount"] == 1


# -- the feed --------------------------------------------------------------------------------
def test_feed_lists_followed_authors_newest_first(client, api):
    celeb, other, fan = api.register("celeb"), api.register("other"), api.register("fan")
    api.article(celeb, "Celeb one")
    api.article(other, "Not followed")
    api.article(celeb, "Celeb two")
    api.article(fan, "My own")
    assert client.get("/api/articles/feed", headers=fan).json() == {"articles": [], "articlesCount": 0}
    client.post("/api/profiles/celeb/follow", headers=fan)
    feed = client.get("/api/articles/feed", headers=fan).json()
    assert [a["title"] for a in feed["articles"]] == ["Celeb two", "Celeb one"]
    assert feed["articlesCount"] == 2
    assert all(a["author"]["following"] is True and "body" not in a for a in feed["articles"])
    page = client.get("/api/articles/feed?limit=1&offset=1", headers=fan).json()
    assert ([a["title"] for a in page["articles"]], page["articlesCount"]) == (["Celeb one"], 2)


def test_feed_needs_a_token(client):
    response = client.get("/api/articles/feed")
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}


# -- update ----------------------------------------------------------------------------------
def test_update_changes_the_fields_sent(client, api, ticking_clock):
    auth = api.register("jake")
    created = api.article(auth, "Dragons", tags=["a", "b"])
    response = client.put("/api/articles/dragons", headers=auth, json={"article": {"body": "With a new body"}})
    assert response.status_code == 200
    updated = response.json()["article"]
    assert updated["body"] == "With a new body"
    assert (updated["slug"], updated["title"], updated["description"], updated["tagList"]) == ("dragons", "Dragons", created["description"], ["a", "b"])
    assert updated["createdAt"] == created["createdAt"]
    assert updated["updatedAt"] > created["updatedAt"]


def test_a_new_title_gives_a_new_slug(client, api):
    auth = api.register("jake")
    api.article(auth, "Dragons")
    api.article(auth, "Did you train your dragon?")
    updated = client.put("/api/articles/dragons", headers=auth, json={"article": {"title": "Did you train your dragon"}}).json()["article"]
    assert (updated["slug"], updated["title"]) == ("did-you-train-your-dragon-2", "Did you train your dragon")
    assert client.get("/api/articles/dragons").status_code == 404
    assert client.get("/api/articles/did-you-train-your-dragon-2").json()["article"]["title"] == "Did you train your dragon"
    same = client.put("/api/articles/did-you-train-your-dragon-2", headers=auth, json={"article": {"title": "Did you train your dragon!"}})
    assert same.json()["article"]["slug"] == "did-you-train-your-dragon-2"  # still its own


def test_update_replaces_the_tags(client, api):
    auth = api.register("jake")
    api.article(auth, "Dragons", tags=["a", "b"])
    updated = client.put("/api/articles/dragons", headers=auth, json={"article": {"tagList": ["c", "a"]}}).json()["article"]
    assert updated["tagList"] == ["a", "c"]
    assert client.get("/api/tags").json() == {"tags": ["a", "c"]}


@pytest.mark.parametrize("field", ["title", "description", "body"])
def test_update_to_a_blank_field_is_422(client, api, field):
    auth = api.register("jake")
    api.article(auth, "Dragons")
    response = client.put("/api/articles/dragons", headers=auth, json={"article": {field: ""}})
    assert response.status_code == 422
    assert response.json() == {"errors": {field: ["can't be blank"]}}


def test_update_by_someone_else_is_403(client, api):
    api.article(api.register("jake"), "Dragons")
    response = client.put("/api/articles/dragons", headers=api.register("other"), json={"article": {"body": "mine now"}})
    assert response.status_code == 403
    assert response.json() == {"errors": {"article": ["forbidden"]}}
    assert client.get("/api/articles/dragons").json()["article"]["body"] == "All of Dragons"


def test_update_unknown_or_anonymous(client, api):
    auth = api.register("jake")
    unknown = client.put("/api/articles/nope", headers=auth, json={"article": {"body": "x"}})
    assert (unknown.status_code, unknown.json()) == (404, {"errors": {"article": ["not found"]}})
    api.article(auth, "Dragons")
    anonymous = client.put("/api/articles/dragons", json={"article": {"body": "x"}})
    assert (anonymous.status_code, anonymous.json()) == (401, {"errors": {"token": ["is missing"]}})


# -- delete ----------------------------------------------------------------------------------
def test_delete_answers_204_and_takes_comments_and_favourites(client, api):
    auth, fan = api.register("jake"), api.register("fan")
    api.article(auth, "Dragons", tags=["x"])
    api.comment(fan, "dragons", "nice")
    client.post("/api/articles/dragons/favorite", headers=fan)
    response = client.delete("/api/articles/dragons", headers=auth)
    assert (response.status_code, response.content) == (204, b"")
    assert client.get("/api/articles/dragons").status_code == 404
    assert client.get("/api/articles/dragons/comments").status_code == 404
    assert client.get("/api/articles?favorited=fan").json()["articlesCount"] == 0
    assert api.article(auth, "Dragons")["slug"] == "dragons"  # the slug is free again


def test_delete_by_someone_else_is_403_and_unknown_is_404(client, api):
    api.article(api.register("jake"), "Dragons")
    other = api.register("other")
    forbidden = client.delete("/api/articles/dragons", headers=other)
    assert (forbidden.status_code, forbidden.json()) == (403, {"errors": {"article": ["forbidden"]}})
    unknown = client.delete("/api/articles/nope", headers=other)
    assert (unknown.status_code, unknown.json()) == (404, {"errors": {"article": ["not found"]}})
    anonymous = client.delete("/api/articles/dragons")
    assert (anonymous.status_code, anonymous.json()) == (401, {"errors": {"token": ["is missing"]}})
    assert client.get("/api/articles/dragons").status_code == 200


# -- favourites ------------------------------------------------------------------------------
def test_favorite_and_unfavorite(client, api):
    author, fan, other = api.register("author"), api.register("fan"), api.register("other")
    api.article(author, "Dragons")
    favorited = client.post("/api/articles/dragons/favorite", headers=fan)
    assert favorited.status_code == 200
    article = favorited.json()["article"]
    assert (article["favorited"], article["favoritesCount"], article["body"]) == (True, 1, "All of Dragons")
    client.post("/api/articles/dragons/favorite", headers=other)
    assert client.get("/api/articles/dragons", headers=fan).json()["article"]["favoritesCount"] == 2
    seen_by_author = client.get("/api/articles/dragons", headers=author).json()["article"]
    assert (seen_by_author["favorited"], seen_by_author["favoritesCount"]) == (False, 2)
    anonymous = client.get("/api/articles").json()["articles"][0]
    assert (anonymous["favorited"], anonymous["favoritesCount"]) == (False, 2)
    in_list = client.get("/api/articles", headers=fan).json()["articles"][0]
    assert (in_list["favorited"], in_list["favoritesCount"]) == (True, 2)
    unfavorited = client.delete("/api/articles/dragons/favorite", headers=fan)
    assert unfavorited.status_code == 200
    assert (unfavorited.json()["article"]["favorited"], unfavorited.json()["article"]["favoritesCount"]) == (False, 1)


def test_favorite_is_idempotent(client, api):
    auth = api.register("jake")
    api.article(auth, "Dragons")
    for _ in range(2):
        assert client.post("/api/articles/dragons/favorite", headers=auth).json()["article"]["favoritesCount"] == 1
    for _ in range(2):
        assert client.delete("/api/articles/dragons/favorite", headers=auth).json()["article"]["favoritesCount"] == 0


def test_favorite_unknown_or_anonymous(client, api):
    auth = api.register("jake")
    for method in (client.post, client.delete):
        response = method("/api/articles/nope/favorite", headers=auth)
        assert (response.status_code, response.json()) == (404, {"errors": {"article": ["not found"]}})
    api.article(auth, "Dragons")
    for method in (client.post, client.delete):
        response = method("/api/articles/dragons/favorite")
        assert (response.status_code, response.json()) == (401, {"errors": {"token": ["is missing"]}})


def test_following_the_author_shows_on_their_articles(client, api):
    author, fan = api.register("author"), api.register("fan")
    api.article(author, "Dragons")
    client.post("/api/profiles/author/follow", headers=fan)
    assert client.get("/api/articles/dragons", headers=fan).json()["article"]["author"]["following"] is True
    assert client.get("/api/articles", headers=fan).json()["articles"][0]["author"]["following"] is True
    assert client.get("/api/articles/dragons").json()["article"]["author"]["following"] is False


def test_a_favourite_by_a_token_whose_user_is_gone_is_401(client, api):
    import jwt

    from examples.conduit.auth import DEVELOPMENT_SECRET

    api.article(api.register("author"), "Dragons")
    gone = jwt.encode({"sub": "987654", "exp": 4102444800}, DEVELOPMENT_SECRET, algorithm="HS256")
    for method in (client.post, client.delete):
        response = method("/api/articles/dragons/favorite", headers={"Authorization": f"Token {gone}"})
        assert (response.status_code, response.json()) == (401, {"errors": {"token": ["is missing"]}})
    assert client.get("/api/articles/dragons").json()["article"]["favoritesCount"] == 0
    missing = client.post("/api/articles/nope/favorite", headers={"Authorization": f"Token {gone}"})
    assert missing.status_code == 404  # no article: nothing to say about the user
