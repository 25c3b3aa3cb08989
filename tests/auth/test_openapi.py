"""Security schemes and per-operation requirements in the OpenAPI document."""

from typing import Any

from bastion import App, Router, Settings
from bastion.auth import (
    AuthPlugin,
    CurrentUser,
    JWTAuth,
    OptionalUser,
    SessionAuth,
    SessionPlugin,
    requires,
)
from bastion.testing import TestClient
from tests.auth.conftest import SECRET


def document(scheme: str = "Bearer") -> dict[str, Any]:
    tokens = JWTAuth(secret=SECRET, scheme=scheme)
    app = App(
        settings=Settings(profile="test", secret_key=SECRET),
        plugins=[SessionPlugin(), AuthPlugin(SessionAuth(), tokens)],
    )

    @app.get("/public")
    async def public() -> str:
        return "hi"

    @app.get("/me")
    async def me(user: CurrentUser) -> str:
        return "me"

    @app.get("/feed")
    async def feed(user: OptionalUser) -> str:
        return "feed"

    admin = Router("/admin", dependencies=[requires("admin")])

    @admin.post("/reports", dependencies=[requires(scopes=["reports:write"])])
    async def report(user: CurrentUser) -> str:
        return "report"

    app.include(admin)
    return TestClient(app).get("/openapi.json").json()


def test_schemes_are_declared_by_the_backends() -> None:
    schemes = document()["components"]["securitySchemes"]
    assert schemes == {
        "session": {"type": "apiKey", "in": "cookie", "name": "session"},
        "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    }
    token = document("Token")["components"]["securitySchemes"]["jwt"]
    assert token["type"] == "apiKey" and token["name"] == "Authorization"


def test_operations_list_their_requirements() -> None:
    paths = document()["paths"]
    assert "security" not in paths["/public"]["get"]
    assert paths["/me"]["get"]["security"] == [{"session": []}, {"jwt": []}]
    assert paths["/feed"]["get"]["security"] == [{"session": []}, {"jwt": []}, {}]
    reports = paths["/admin/reports"]["post"]["security"]
    assert reports == [{"session": ["reports:write"]}, {"jwt": ["reports:write"]}]


def test_an_explicit_security_option_wins() -> None:
    app = App(settings=Settings(profile="test"), plugins=[AuthPlugin(JWTAuth(secret=SECRET))])

    @app.get("/me", security=[{"jwt": ["profile"]}])
    async def me(user: CurrentUser) -> str:
        return "me"

    operation = TestClient(app).get("/openapi.json").json()["paths"]["/me"]["get"]
    assert operation["security"] == [{"jwt": ["profile"]}]


def test_operations_list_the_refusals_their_guards_answer() -> None:
    paths = document()["paths"]
    assert not {"401", "403"} & set(paths["/public"]["get"]["responses"])
    assert {"401"} <= set(paths["/me"]["get"]["responses"]) and "403" not in paths["/me"]["get"][
        "responses"
    ]
    assert "401" in paths["/feed"]["get"]["responses"]  # invalid credentials are refused
    refusals = paths["/admin/reports"]["post"]["responses"]
    assert (
        refusals["401"]["content"]
        == refusals["403"]["content"]
        == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    )
