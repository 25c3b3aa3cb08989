import asyncio
import re

import pytest

from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.http.response import Response, TextResponse
from bastion.middleware.server_timing import ServerTiming


def make_request() -> Request:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    return Request(scope, receive)


def timings(response: Response) -> list[bytes]:
    return [v for k, v in response.raw_headers if k == b"server-timing"]


async def test_duration_of_the_inner_layers_is_reported_in_milliseconds():
    async def slow(request: Request) -> Response:
        await asyncio.sleep(0.02)
        return TextResponse("ok")

    response = await ServerTiming()(make_request(), slow)
    [value] = timings(response)
    match = re.fullmatch(rb"app;dur=(\d+\.\d{3})", value)
    assert match is not None
    assert 20 <= float(match.group(1)) < 1000


async def test_metric_name_is_configurable_and_handler_entries_are_kept():
    async def handler(request: Request) -> Response:
        return TextResponse("ok", headers={"server-timing": "db;dur=1.5"})

    response = await ServerTiming("total")(make_request(), handler)
    assert timings(response)[0] == b"db;dur=1.5"
    assert timings(response)[1].startswith(b"total;dur=")


@pytest.mark.parametrize("metric", ["", "app time", "app;dur=1"])
def test_bad_metric_name_fails_at_construction(metric):
    with pytest.raises(ConfigurationError, match="ServerTiming"):
        ServerTiming(metric)
