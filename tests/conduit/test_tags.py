"""Tags: the ones in use, most used first."""


def test_no_tags_at_first(client):
    response = client.get("/api/tags")
    assert response.status_code == 200
    assert response.json() == {"tags": []}


def test_tags_in_use_most_used_first(client, api):
    auth = api.register("jake")
    api.article(auth, "One", tags=["dragons", "training"])
    api.article(auth, "Two", tags=["dragons", "angular"])
    api.article(auth, "Three", tags=["dragons", "training"])
    assert client.get("/api/tags").json() == {"tags": ["dragons", "training", "angular"]}


def test_a_tag_goes_when_its_last_article_does(client, api):
    auth = api.register("jake")
    slug = api.article(auth, "One", tags=["lonely"])["slug"]
    api.article(auth, "Two", tags=["kept"])
    client.delete(f"/api/articles/{slug}", headers=auth)
    assert client.get("/api/tags").json() == {"tags": ["kept"]}
