import asyncio
import socket

import asyncpg
import pytest

from bastion.db import SQLAlchemyPlugin
from bastion.exceptions import ConfigurationError
from bastion.observability import HealthCheck, ObservabilityPlugin, redis_check
from bastion.testing import TestClient
from tests.observability.conftest import AUTH, make_app


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_liveness_and_readiness_are_up_with_no_checks():
    with TestClient(make_app()) as client:
        for path in ("/health/live", "/health/ready"):
            response = client.get(path)
            assert (response.status_code, response.json()) == (200, {"status": "UP"})
            assert response.headers["cache-control"] == "no-store"


def test_detail_is_shown_only_to_authorised_callers():
    async def payments() -> dict:
        return {"provider": "ok"}

    app = make_app(checks=[HealthCheck("payments", payments)])
    with TestClient(app) as client:
        assert client.get("/health/ready").json() == {"status": "UP"}
        assert client.get("/health/ready", headers={"authorization": "Bearer wrong"}).json() == {
            "status": "UP"
        }
        detail = client.get("/health/ready", headers=AUTH).json()
    assert detail["status"] == "UP" and detail["draining"] is False
    assert detail["checks"]["payments"]["status"] == "UP"
    assert detail["checks"]["payments"]["detail"] == {"provider": "ok"}


def test_a_failing_or_slow_check_makes_readiness_503_but_not_liveness():
    async def broken() -> None:
        raise RuntimeError("queue unreachable")

    async def slow() -> None:
        await asyncio.sleep(10)

    checks = [HealthCheck("queue", broken), HealthCheck("search", slow, timeout=0.2)]
    with TestClient(make_app(checks=checks)) as client:
        assert client.get("/health/live").status_code == 200
        bare = client.get("/health/ready")
        detail = client.get("/health/ready", headers=AUTH).json()
    assert (bare.status_code, bare.json()) == (503, {"status": "DOWN"})
    assert detail["checks"]["queue"] == {
        "status": "DOWN",
        "error": "RuntimeError: queue unreachable",
        "duration_ms": detail["checks"]["queue"]["duration_ms"],
    }
    assert detail["checks"]["search"]["error"] == "timed out after 0.2 s"


def test_a_check_returning_false_is_down():
    async def no() -> bool:
        return False

    with TestClient(make_app(checks=[HealthCheck("flag", no)])) as client:
        assert client.get("/health/ready").status_code == 503


def test_liveness_checks_go_to_live_only():
    async def stuck() -> bool:
        return False

    app = make_app(checks=[HealthCheck("event-loop", stuck, liveness=True)])
    with TestClient(app) as client:
        assert client.get("/health/live").status_code == 503
        assert client.get("/health/ready").status_code == 200


def test_readiness_goes_down_as_soon_as_shutdown_begins():
    app = make_app()
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 200
        app.draining = True  # what `bastion serve` sets on SIGTERM, before it stops accepting
        response = client.get("/health/ready", headers=AUTH)
        assert response.status_code == 503
        assert response.json() == {"status": "DOWN", "draining": True, "checks": {}}
        assert client.get("/health/live").status_code == 200


async def test_the_app_drains_when_its_shutdown_starts():
    app = make_app()
    async with app.lifespan():
        assert app.draining is False
    assert app.draining is True


def test_database_check_against_real_postgresql_up_then_down(fresh_postgres_url):
    app = make_app(SQLAlchemyPlugin(fresh_postgres_url, pool_size=2))
    with TestClient(app) as client:
        response = client.get("/health/ready", headers=AUTH)
        assert response.status_code == 200, response.text
        database = response.json()["checks"]["database"]
        assert database["status"] == "UP"
        assert database["detail"]["checked_out"] == 0

        name = fresh_postgres_url.rsplit("/", 1)[1]
        admin = fresh_postgres_url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)[0]

        async def drop() -> None:
            connection = await asyncpg.connect(admin + "/postgres")
            try:  # the database disappears under the running app, its connections cut
                await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            finally:
                await connection.close()

        asyncio.run(drop())
        response = client.get("/health/ready", headers=AUTH)
        assert response.status_code == 503
        assert response.json()["checks"]["database"]["status"] == "DOWN"
        assert client.get("/health/live").status_code == 200  # never restart for a database


def test_database_check_reports_an_engine_that_is_not_started(tmp_path):
    plugin = SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    app = make_app(plugin)
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 200
    status = asyncio.run(_ready(app))
    assert status["checks"]["database"]["error"] == "RuntimeError: the database engine is not started"


async def _ready(app):
    plugin = next(p for p in app.plugins if isinstance(p, ObservabilityPlugin))
    from bastion.observability.health import run_checks

    _, checks = await run_checks(plugin.readiness_checks)
    return {"checks": checks}


def test_redis_check_against_real_redis_up_and_down(redis_url):
    down = f"redis://127.0.0.1:{_closed_port()}/0"
    checks = [redis_check(redis_url), redis_check(down, name="redis-replica", timeout=2)]
    with TestClient(make_app(checks=checks)) as client:
        response = client.get("/health/ready", headers=AUTH)
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["status"] == "UP"
    replica = response.json()["checks"]["redis-replica"]
    assert replica["status"] == "DOWN" and "ConnectionError" in replica["error"]


def test_checks_must_be_health_checks():
    with pytest.raises(ConfigurationError, match="HealthCheck\\('name', probe"):
        make_app(checks=[lambda: None])
    with pytest.raises(ConfigurationError, match="timeout=0 must be a positive"):
        HealthCheck("x", _closed_port, timeout=0)


def test_without_token_or_callable_only_dev_sees_detail():
    async def ok() -> None:
        return None

    checks = [HealthCheck("a", ok)]
    with TestClient(make_app(token=None, checks=checks, profile="dev")) as client:
        assert "checks" in client.get("/health/ready").json()
    with TestClient(make_app(token=None, checks=checks)) as client:
        assert client.get("/health/ready").json() == {"status": "UP"}


def test_an_authorize_callable_decides(auth):
    def staff_only(request) -> bool:
        return request.headers.get("x-staff") == "yes"

    with TestClient(make_app(token=None, authorize=staff_only)) as client:
        assert "checks" in client.get("/health/ready", headers={"x-staff": "yes"}).json()
        assert client.get("/health/ready", headers=auth).json() == {"status": "UP"}


def test_a_short_token_is_refused():
    with pytest.raises(ConfigurationError, match="at least 16"):
        make_app(token="short")
