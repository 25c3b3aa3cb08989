"""Conduit's /graphql: the same articles, profiles and comments as /api, the same tokens."""

from __future__ import annotations

from typing import Any

ARTICLE_FIELDS = "slug title description body tagList favorited favoritesCount author { username following }"


def gql(client, query: str, auth: dict[str, str] | None = None, **variables: Any) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables}, headers=auth or {})
    assert response.status_code == 200, response.text
    return response.json()


def test_articles_are_the_rest_apis_articles(client, api):
    jake = api.register("jake")
    api.article(jake, "Dragons", tags=["dragons", "training"])
    api.article(jake, "Rivers", tags=["rivers"])
    doc = gql(client, "{ articles(tag: \"dragons\") { articlesCount articles { " + ARTICLE_FIELDS + " } } }")
    assert "errors" not in doc
    listed = doc["data"]["articles"]
    assert listed["articlesCount"] == 1
    rest = client.get("/api/articles", params={"tag": "dragons"}).json()["articles"][0]
    article = listed["articles"][0]
    assert article["slug"] == rest["slug"] and article["tagList"] == rest["tagList"] == ["dragons", "training"]
    assert article["body"] is None  # lists leave the body out, as /api's do
    assert article["author"] == {"username": "jake", "following": False}
    everything = gql(client, "{ articles(limit: 1) { articlesCount articles { title } } }")["data"]["articles"]
    assert everything == {"articlesCount": 2, "articles": [{"title": "Rivers"}]}


def test_one_article_its_comments_and_a_profile(client, api):
    jake, fan = api.register("jake"), api.register("fan")
    slug = api.article(jake, "Dragons", body="How to train them")["slug"]
    api.comment(fan, slug, "first!")
    client.post("/api/profiles/jake/follow", headers=fan)
    query = "query ($s: String!) { article(slug: $s) { body author { username following } } comments(slug: $s) { body author { username } } profile(username: \"jake\") { username following } }"
    anonymous = gql(client, query, s=slug)["data"]
    assert anonymous["article"] == {"body": "How to train them", "author": {"username": "jake", "following": False}}
    assert anonymous["comments"] == [{"body": "first!", "author": {"username": "fan"}}]
    assert anonymous["profile"] == {"username": "jake", "following": False}
    as_fan = gql(client, query, fan, s=slug)["data"]
    assert as_fan["article"]["author"]["following"] is True and as_fan["profile"]["following"] is True


def test_what_does_not_exist_is_null(client, api):
    doc = gql(client, "{ article(slug: \"nothing\") { slug } profile(username: \"nobody\") { username } }")
    assert doc == {"data": {"article": None, "profile": None}}
    missing = gql(client, "{ comments(slug: \"nothing\") { id } }")
    assert missing["data"] is None and missing["errors"][0]["extensions"]["status"] == 404


def test_signed_in_fields_and_mutations_need_the_token(client, api):
    doc = gql(client, "{ me { username } }")
    assert doc["data"] is None
    assert doc["errors"][0]["path"] == ["me"] and doc["errors"][0]["extensions"]["status"] == 401
    refused = gql(client, "mutation { followUser(username: \"jake\") { following } }")
    assert refused["errors"][0]["extensions"]["status"] == 401
    bad = client.post("/graphql", json={"query": "{ tags }"}, headers={"Authorization": "Token not-a-jwt"})
    assert bad.status_code == 401  # as on /api: a bad token is refused before any field runs
    jake = api.register("jake")
    assert gql(client, "{ me { username email } }", jake)["data"]["me"] == {"username": "jake", "email": "jake@example.com"}


def test_create_an_article_comment_favorite_and_follow(client, api):
    jake, fan = api.register("jake"), api.register("fan")
    create = "mutation ($a: ArticleInput!) { createArticle(article: $a) { " + ARTICLE_FIELDS + " } }"
    made = gql(client, create, jake, a={"title": "Dragons", "description": "d", "body": "b", "tagList": ["dragons"]})
    article = made["data"]["createArticle"]
    assert article["slug"] == "dragons" and article["tagList"] == ["dragons"] and article["body"] == "b"
    assert client.get("/api/articles/dragons").json()["article"]["title"] == "Dragons"
    assert gql(client, "{ tags }")["data"]["tags"] == ["dragons"]

    comment = gql(client, "mutation { addComment(slug: \"dragons\", body: \"Thanks!\") { id body author { username } } }", fan)
    added = comment["data"]["addComment"]
    assert added["body"] == "Thanks!" and added["author"] == {"username": "fan"}
    assert [c["id"] for c in client.get("/api/articles/dragons/comments").json()["comments"]] == [added["id"]]

    favorite = "mutation { favoriteArticle(slug: \"dragons\") { favorited favoritesCount } }"
    assert gql(client, favorite, fan)["data"]["favoriteArticle"] == {"favorited": True, "favoritesCount": 1}
    assert gql(client, favorite, fan)["data"]["favoriteArticle"] == {"favorited": True, "favoritesCount": 1}

    follow = gql(client, "mutation { followUser(username: \"jake\") { username following } }", fan)
    assert follow["data"]["followUser"] == {"username": "jake", "following": True}
    feed = gql(client, "{ feed { articlesCount articles { slug favorited } } }", fan)["data"]["feed"]
    assert feed == {"articlesCount": 1, "articles": [{"slug": "dragons", "favorited": True}]}


def test_bad_input_is_a_clear_error(client, api):
    jake = api.register("jake")
    blank = gql(client, "mutation { createArticle(article: {title: \" \", description: \"d\", body: \"b\"}) { slug } }", jake)
    assert blank["data"] is None and blank["errors"][0]["extensions"]["status"] == 422
    assert "title" in blank["errors"][0]["message"]
    assert client.get("/api/articles").json()["articlesCount"] == 0
    too_many = gql(client, "{ articles(limit: 100000) { articlesCount } }")
    assert too_many["errors"][0]["extensions"]["status"] == 422 and "limit" in too_many["errors"][0]["message"]
    nowhere = gql(client, "mutation { addComment(slug: \"nothing\", body: \"hi\") { id } }", jake)
    assert nowhere["errors"][0]["extensions"]["status"] == 404
    typo = client.post("/graphql", json={"query": "{ articles { nope } }"})
    assert typo.status_code == 200 and "nope" in typo.json()["errors"][0]["message"]


def test_fields_that_read_the_database_side_by_side(client, api):
    """GraphQL resolves a query's fields concurrently; the session serves them in turn."""
    jake = api.register("jake")
    api.article(jake, "Dragons", tags=["dragons"])
    query = "{ me { username } feed { articlesCount } tags articles { articlesCount } a: article(slug: \"dragons\") { title } p: profile(username: \"jake\") { username } }"
    doc = gql(client, query, jake)
    assert "errors" not in doc
    assert doc["data"] == {
        "me": {"username": "jake"},
        "feed": {"articlesCount": 0},
        "tags": ["dragons"],
        "articles": {"articlesCount": 1},
        "a": {"title": "Dragons"},
        "p": {"username": "jake"},
    }
