"""App-wide behaviour: every error (even the router's own) in the spec's shape, the OpenAPI
document and docs page, CORS for browser frontends."""


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


def test_a_frontend_on_another_origin_may_call_the_api(client):
    preflight = client.options("/api/user", headers={
        "Origin": "http://localhost:4200",
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert client.get("/api/tags", headers={"Origin": "http://localhost:4200"}).headers["access-control-allow-origin"] == "*"


def test_the_openapi_document_shows_the_spec_error_shape(client):
    document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                assert "application/problem+json" not in response.get("content", {}), (method, path, status)
    forbidden = document["paths"]["/api/articles/{slug}"]["put"]["responses"]["403"]
    assert forbidden["content"]["application/json"]["schema"]["$ref"].endswith("/Errors")
