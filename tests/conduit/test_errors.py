"""Every error, even the router's own, answers in the spec's shape."""


def test_an_unknown_route_is_404_in_the_spec_shape(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"errors": {"body": ["not found"]}}


def test_a_wrong_method_is_405_in_the_spec_shape(client):
    response = client.patch("/api/user")
    assert response.status_code == 405
    assert "allow" in response.headers
    assert list(response.json()["errors"]) == ["body"]


def test_the_openapi_document_and_docs_page_are_served(client):
    document = client.get("/openapi.json").json()
    assert document["info"]["title"] == "Conduit"
    assert "/api/articles/{slug}/comments/{comment_id}" in document["paths"]
    assert client.get("/docs").status_code == 200
