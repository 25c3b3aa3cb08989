"""Quotas and usage recording in one process: windows, headers, flushing, and refusal to
start when misconfigured."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

import pytest

from bastion import App, ConfigurationError, Settings
from bastion.apim import APIManagement, MemoryStore, Metered, Quota
from bastion.apim.store import Batch
from bastion.auth import AuthPlugin, JWTAuth
from bastion.auth.apikeys import APIKeyAuth
from bastion.db import SQLAlchemyPlugin
from bastion.testing import TestClient
from tests.apim.apim_app import build


def sign_in(jwt: JWTAuth, who: str = "alice") -> dict[str, str]:
    return {"Authorization": "Bearer " + jwt.encode({"sub": who})}


def new_key(client: TestClient, jwt: JWTAuth, **body: Any) -> dict[str, Any]:
    response = client.post("/developer/api/keys", json={"name": "CI", **body}, headers=sign_in(jwt))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"


def test_day_and_month_windows_end_at_the_next_utc_period() -> None:
    moment = datetime.datetime(2026, 12, 31, 23, 59, tzinfo=datetime.UTC)
    day = Quota.parse("5/day").window(moment)
    month = Quota.parse(" 100 / month ").window(moment)
    assert (day.id, day.end) == ("2026-12-31", datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC))
    assert (month.id, month.end) == ("2026-12", datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC))
    assert month.seconds == 31 * 86400


@pytest.mark.parametrize("text", ["5/week", "0/day", "day", "-1/day", ""])
def test_a_malformed_quota_fails_at_start_up(text: str) -> None:
    with pytest.raises(ConfigurationError, match="day"):
        Metered(text)


def test_each_key_has_its_own_quota_and_the_tightest_quota_sets_the_headers(database: str) -> None:
    app, jwt, _ = build(database)
    with TestClient(app) as client:
        first, second = new_key(client, jwt)["key"], new_key(client, jwt)["key"]
        for _ in range(10):
            assert client.get("/reports/2026", headers={"X-API-Key": first}).status_code == 200
        refused = client.get("/reports/2026", headers={"X-API-Key": first})
        assert refused.status_code == 429
        assert "resets at" in refused.json()["detail"]
        other = client.get("/reports/2026", headers={"X-API-Key": second})
        assert other.status_code == 200 and other.headers["ratelimit-remaining"] == "9"


def test_requests_without_a_key_are_not_counted_against_a_quota(database: str) -> None:
    app, jwt, apim = build(database)
    with TestClient(app) as client:
        for _ in range(12):
            response = client.get("/reports/2026", headers=sign_in(jwt))
            assert response.status_code == 200 and "ratelimit-limit" not in response.headers
    assert apim.recorder._pending == {}  # flushed at shutdown


def test_usage_is_flushed_on_a_timer_without_a_shutdown(database: str) -> None:
    store = MemoryStore()
    app, jwt, _ = build(database, store, flush_interval=0.05)
    with TestClient(app) as client:
        key = new_key(client, jwt)["key"]
        for _ in range(3):
            client.get("/reports/2026", headers={"X-API-Key": key})
        deadline = time.monotonic() + 5
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        while time.monotonic() < deadline:
            rows = client.portal.call(store.usage([key.split("_")[1]], [today]))
            if rows and rows[0].requests == 3:
                break
            time.sleep(0.05)
        assert [(r.route, r.requests, r.errors) for r in rows] == [
            ("GET /reports/{year:int}", 3, 0)
        ]


class FlakyStore(MemoryStore):
    """A store that refuses its first write, as a Redis restart would."""

    def __init__(self) -> None:
        super().__init__()
        self.refusals = 1

    async def add(self, batch: Batch) -> None:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("store restarting")
        await super().add(batch)


def test_a_refused_flush_keeps_its_counts_for_the_next(database: str) -> None:
    store = FlakyStore()
    app, jwt, apim = build(database, store, flush_interval=3600)
    with TestClient(app) as client:
        key = new_key(client, jwt)["key"]
        client.get("/reports/2026", headers={"X-API-Key": key})
        with pytest.raises(ConnectionError):
            client.portal.call(apim.recorder.flush())
        client.get("/reports/1999", headers={"X-API-Key": key})
        client.portal.call(apim.recorder.flush())
        usage = client.get("/developer/api/usage?days=1", headers=sign_in(jwt)).json()
    assert (usage["requests"], usage["errors"]) == (2, 1)


def test_apim_without_its_keys_in_the_auth_plugin_fails_at_start_up(database: str) -> None:
    db = SQLAlchemyPlugin(database)
    keys = APIKeyAuth(db)
    with pytest.raises(ConfigurationError, match="AuthPlugin"):
        App(
            settings=Settings(profile="test"),
            plugins=[db, AuthPlugin(JWTAuth(secret="x" * 32)), APIManagement(keys)],
        )


@pytest.mark.parametrize("option", [{"store": "postgres://x"}, {"flush_interval": 0}])
def test_a_bad_option_fails_at_start_up(option: dict[str, Any], database: str) -> None:
    with pytest.raises(ConfigurationError, match="APIManagement"):
        APIManagement(APIKeyAuth(SQLAlchemyPlugin(database)), **option)


def test_metered_as_app_middleware_fails_at_start_up(database: str) -> None:
    """It used to start, then fail every request with a 500 saying the app had no
    APIManagement."""
    db = SQLAlchemyPlugin(database)
    keys = APIKeyAuth(db)
    app = App(
        settings=Settings(profile="test"),
        plugins=[db, AuthPlugin(JWTAuth(secret="x" * 32), keys), APIManagement(keys)],
        middleware=[Metered("2/day")],
    )
    app.get("/ping")(lambda: "pong")
    with pytest.raises(RuntimeError, match=r"Metered is in App\(middleware=...\): put it on"):
        with TestClient(app):
            pass
