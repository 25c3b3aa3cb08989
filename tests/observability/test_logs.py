import io
import json
import logging

import pytest

from bastion import App, Settings
from bastion.middleware.request_id import RequestId
from bastion.observability import (
    DevFormatter,
    JSONFormatter,
    ObservabilityPlugin,
    configure_logging,
)
from bastion.testing import TestClient
from tests.observability.conftest import make_app


@pytest.fixture
def captured():
    """configure_logging into a buffer; the root logger is put back afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])


def _app_logging_a_line():
    app = make_app()

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict:
        logging.getLogger("shop.orders").info("loading order", extra={"order_id": order_id})
        return {"id": order_id}

    return app


def test_json_lines_carry_the_request_id_route_status_and_duration(captured):
    configure_logging("json", "info", stream=captured)
    with TestClient(_app_logging_a_line()) as client:
        response = client.get("/orders/7", headers={"x-request-id": "req-42"})
    assert response.headers["x-request-id"] == "req-42"  # taken from and echoed to the header
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    mine = next(line for line in lines if line["logger"] == "shop.orders")
    access = next(line for line in lines if line["logger"] == "bastion.access")
    assert mine["request_id"] == "req-42" and mine["order_id"] == 7
    assert mine["level"] == "INFO" and mine["time"].endswith("Z")
    assert access["request_id"] == "req-42"
    assert access["route"] == "/orders/{order_id}"
    assert access["path"] == "/orders/7"
    assert access["status"] == 200 and access["method"] == "GET"
    assert access["duration_ms"] >= 0


def test_a_request_without_an_id_gets_a_fresh_one(captured):
    configure_logging("json", stream=captured)
    with TestClient(_app_logging_a_line()) as client:
        given = client.get("/orders/1").headers["x-request-id"]
    access = [json.loads(x) for x in captured.getvalue().splitlines() if "bastion.access" in x]
    assert len(given) == 32 and access[0]["request_id"] == given


def test_the_apps_own_request_id_middleware_is_reused_not_doubled():
    own = RequestId(header="x-correlation-id")
    app = App(settings=Settings(profile="test"), middleware=[own],
              plugins=[ObservabilityPlugin(logs=None)])
    assert [m for m in app.middleware if isinstance(m, RequestId)] == [own]
    with TestClient(app) as client:
        response = client.get("/health/live", headers={"x-correlation-id": "c-1"})
    assert response.headers["x-correlation-id"] == "c-1"
    assert "x-request-id" not in response.headers


def test_probes_are_logged_at_debug_only(captured):
    configure_logging("json", "info", stream=captured)
    with TestClient(make_app()) as client:
        client.get("/health/ready")
        client.get("/metrics")
    assert "bastion.access" not in captured.getvalue()


def test_failures_are_logged_with_status_500_and_the_traceback(captured):
    configure_logging("json", stream=captured)
    app = make_app()

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("kaput")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
    lines = [json.loads(x) for x in captured.getvalue().splitlines()]
    error = next(x for x in lines if x["logger"] == "bastion.error")
    access = next(x for x in lines if x["logger"] == "bastion.access")
    assert "ValueError: kaput" in error["exception"]
    assert error["request_id"] == access["request_id"]
    assert access["status"] == 500


def test_dev_format_is_one_readable_line():
    record = logging.LogRecord("bastion.access", logging.INFO, "", 0, "GET /a 200 1.00 ms", (), None)
    record.request_id = "abc"
    plain = DevFormatter(colour=False).format(record)
    assert plain.endswith("INFO    bastion.access  GET /a 200 1.00 ms  [abc]")
    coloured = DevFormatter(colour=True).format(record)
    assert "\033[32mINFO" in coloured


def test_json_formatter_keeps_extra_fields_and_encodes_anything():
    record = logging.LogRecord("x", logging.WARNING, "", 0, "hello %s", ("you",), None)
    record.user = object()
    data = json.loads(JSONFormatter().format(record))
    assert data["message"] == "hello you" and data["level"] == "WARNING"
    assert data["user"].startswith("<object object")


def test_auto_is_json_in_prod_and_colour_elsewhere(captured):
    handler = configure_logging("auto", profile="prod", stream=captured)
    assert isinstance(handler.formatter, JSONFormatter)
    handler = configure_logging("auto", profile="dev", stream=captured)
    assert isinstance(handler.formatter, DevFormatter)
    assert [h.get_name() for h in logging.getLogger().handlers].count("bastion") == 1
