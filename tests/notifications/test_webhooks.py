"""Signed webhooks. A notification's webhook is delivered by a real jobs worker to a receiver
app running in another process (uvicorn on 127.0.0.1), which checks it with verify_webhook; a
receiver that fails twice gets it on the third attempt, with the same id each time. And
verify_webhook refuses what it must: tampered bodies and signatures, stale timestamps,
missing or malformed headers, in constant time."""

import asyncio
import hashlib
import hmac
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bastion import App, Settings
from bastion.jobs import Jobs, JobsPlugin, JobState
from bastion.notifications import (
    ID_HEADER,
    SIGNATURE_HEADER,
    WEBHOOK_JOB,
    InvalidWebhook,
    NotificationsPlugin,
    Webhook,
    notify,
    sign_webhook,
    verify_webhook,
)
from bastion.notifications.webhooks import delivery_headers
from tests._processes import accepts, free_port, running
from tests.notifications._app import ArticleCommented, User

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
WEBHOOK = ("webhook",)
BODY = b'{"id":"n1","type":"article_commented","data":{"comment":"hi"}}'


# -- a receiver in another process -------------------------------------------------------------


@contextmanager
def receiver(fail_first: int = 0) -> Iterator[str]:
    """tests/notifications/receiver.py served by uvicorn; yields its base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "tests.notifications.receiver:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "WEBHOOK_SECRET": SECRET,
        "FAIL_FIRST": str(fail_first),
    }
    with running(command, ready=lambda: accepts(port), what="the webhook receiver", cwd=ROOT,
                 env=env):  # fmt: skip
        yield f"http://127.0.0.1:{port}"


def sender(jobs: Jobs, attempts: int = 8) -> App:
    """An app whose jobs worker runs in process, retrying after 50-100 ms, not seconds."""
    return App(
        settings=Settings(profile="test"),
        plugins=[
            JobsPlugin(jobs, backend="memory", run_worker=True, poll=0.05, retry_backoff=0.1),
            NotificationsPlugin(webhook_attempts=attempts, webhook_timeout=5),
        ],
    )


async def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_a_webhook_reaches_a_receiver_in_another_process_which_verifies_it():
    with receiver() as base:
        jobs = Jobs()
        app = sender(jobs)
        user = User(7, webhook_url=f"{base}/hook", webhook_secret=SECRET)
        async with app.lifespan(), httpx.AsyncClient(base_url=base) as client:

            async def accepted():
                return (await client.get("/received")).json()["accepted"]

            [sent] = await notify(user, ArticleCommented("dragons", "hi", WEBHOOK))
            [delivery] = await wait_for(accepted)
    assert delivery["id"] == sent
    event = delivery["event"]
    assert event["id"] == sent and event["type"] == "article_commented"
    assert event["data"] == {"article": "dragons", "comment": "hi"}
    assert event["created_at"].endswith("Z")


async def test_a_receiver_that_fails_twice_gets_it_on_the_third_attempt():
    with receiver(fail_first=2) as base:
        jobs = Jobs()
        app = sender(jobs)
        plugin = next(p for p in app.plugins if isinstance(p, JobsPlugin))
        user = User(7, webhook_url=f"{base}/hook", webhook_secret=SECRET)
        async with app.lifespan(), httpx.AsyncClient(base_url=base) as client:

            async def succeeded():
                return await plugin.backend.list(state=JobState.SUCCEEDED, name=WEBHOOK_JOB)

            [sent] = await notify(user, ArticleCommented("dragons", "third time", WEBHOOK))
            [record] = await wait_for(succeeded)
            received = (await client.get("/received")).json()
    assert record.attempt == 3
    assert [error.split(" answered ")[1][:3] for error in record.errors] == ["503", "503"]
    assert all(SECRET not in error for error in record.errors)
    assert received["attempts"] == [sent, sent, sent]  # one delivery id, for idempotency
    [delivery] = received["accepted"]
    assert delivery["event"]["data"]["comment"] == "third time"


async def test_a_receiver_that_never_answers_2xx_leaves_the_job_failed():
    with receiver(fail_first=1000) as base:
        jobs = Jobs()
        app = sender(jobs, attempts=2)
        plugin = next(p for p in app.plugins if isinstance(p, JobsPlugin))
        async with app.lifespan():
            await notify(
                User(7, webhook_url=f"{base}/hook?token=private"),
                ArticleCommented("dragons", "lost", WEBHOOK),
            )

            async def failed():
                return await plugin.backend.list(state=JobState.FAILED, name=WEBHOOK_JOB)

            [record] = await wait_for(failed)
    assert record.attempt == 2
    assert "answered 503" in record.errors[-1]
    assert "private" not in record.errors[-1]  # no query string (tokens) in the job's errors


def test_the_receiver_refuses_tampered_and_stale_deliveries_with_a_400():
    with receiver() as base:
        headers = delivery_headers(SECRET, BODY, "n1")
        good = httpx.post(f"{base}/hook", content=BODY, headers=headers)
        assert good.status_code == 200
        tampered = httpx.post(f"{base}/hook", content=BODY.replace(b"hi", b"ho"), headers=headers)
        assert tampered.status_code == 400
        assert tampered.headers["content-type"] == "application/problem+json"
        assert "does not match" in tampered.json()["detail"]
        stale = {**headers, **sign_webhook(SECRET, BODY, timestamp=int(time.time()) - 600)}
        refused = httpx.post(f"{base}/hook", content=BODY, headers=stale)
        assert refused.status_code == 400 and "s away from now" in refused.json()["detail"]
        unsigned = httpx.post(f"{base}/hook", content=BODY)
        assert unsigned.status_code == 400
        assert len(httpx.get(f"{base}/received").json()["accepted"]) == 1


# -- verify_webhook ---------------------------------------------------------------------------


def test_a_signed_body_verifies_and_comes_back_decoded():
    headers = sign_webhook(SECRET, BODY)
    assert verify_webhook(SECRET, headers, BODY) == {
        "id": "n1",
        "type": "article_commented",
        "data": {"comment": "hi"},
    }
    lower = {name.lower(): value for name, value in headers.items()}
    assert verify_webhook(SECRET, lower, BODY.decode())["id"] == "n1"
    assert verify_webhook(SECRET, httpx.Headers(headers), BODY)["id"] == "n1"


def test_the_signature_is_stripes_scheme_hmac_sha256_of_timestamp_dot_body():
    header = sign_webhook(SECRET, BODY, timestamp=1_700_000_000)[SIGNATURE_HEADER]
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h, b: (h, b.replace(b"hi", b"ho")), id="body"),
        pytest.param(lambda h, b: (h, b + b" "), id="body-whitespace"),
        pytest.param(
            lambda h, b: (
                {
                    SIGNATURE_HEADER: h[SIGNATURE_HEADER][:-1]
                    + ("0" if h[SIGNATURE_HEADER][-1] != "0" else "1")
                },
                b,
            ),
            id="signature",
        ),
        pytest.param(
            lambda h, b: ({SIGNATURE_HEADER: _shift_time(h[SIGNATURE_HEADER], 5)}, b),
            id="timestamp",
        ),
        pytest.param(lambda h, b: (sign_webhook("another secret", b), b), id="secret"),
    ],
)
def test_tampering_with_anything_signed_is_refused(tamper):
    headers, body = tamper(sign_webhook(SECRET, BODY), BODY)
    with pytest.raises(InvalidWebhook, match="does not match"):
        verify_webhook(SECRET, headers, body)


def _shift_time(header: str, seconds: int) -> str:
    stamp, signature = header.split(",")
    return f"t={int(stamp[2:]) + seconds},{signature}"


def test_stale_and_future_timestamps_are_refused_beyond_the_tolerance():
    now = 1_700_000_000
    for age in (301, -301, 10**9):
        headers = sign_webhook(SECRET, BODY, timestamp=now - age)
        with pytest.raises(InvalidWebhook, match="away from now"):
            verify_webhook(SECRET, headers, BODY, now=now)
    assert verify_webhook(SECRET, sign_webhook(SECRET, BODY, now - 299), BODY, now=now)
    assert verify_webhook(SECRET, sign_webhook(SECRET, BODY, now - 30), BODY, 60, now=now)
    with pytest.raises(InvalidWebhook):
        verify_webhook(SECRET, sign_webhook(SECRET, BODY, now - 61), BODY, 60, now=now)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "t=,v1=",
        "v1=abc",
        "t=1700000000",
        "t=abc,v1=00",
        "t=-5,v1=00",
        "t=１２,v1=00",
        "t=1" + "0" * 40 + ",v1=00",
        "x" * 5000,
    ],
)
def test_missing_and_malformed_headers_are_refused(header):
    with pytest.raises(InvalidWebhook, match="malformed|too long"):
        verify_webhook(SECRET, {SIGNATURE_HEADER: header}, BODY, now=1_700_000_000)


def test_no_signature_header_is_refused():
    with pytest.raises(InvalidWebhook, match="no Bastion-Signature header"):
        verify_webhook(SECRET, {"content-type": "application/json"}, BODY)


def test_a_signed_body_that_is_not_json_is_refused():
    with pytest.raises(InvalidWebhook, match="not JSON"):
        verify_webhook(SECRET, sign_webhook(SECRET, b"<xml/>"), b"<xml/>")


def test_while_a_secret_is_replaced_both_verify():
    headers = sign_webhook("old secret", BODY)
    assert verify_webhook(["new secret", "old secret"], headers, BODY)["id"] == "n1"
    with pytest.raises(InvalidWebhook):
        verify_webhook(["new secret"], headers, BODY)
    with pytest.raises(ValueError):
        verify_webhook([], headers, BODY)


def test_signatures_are_compared_in_constant_time_all_of_them(monkeypatch):
    """Each candidate goes through hmac.compare_digest, even after one has matched: how long
    verification takes says nothing about which bytes, or which candidate, were right."""
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr("bastion.notifications.webhooks.hmac.compare_digest", spy)
    good = sign_webhook(SECRET, BODY)[SIGNATURE_HEADER]
    header = f"{good},v1={'0' * 64},v1=short"
    verify_webhook(SECRET, {SIGNATURE_HEADER: header}, BODY)
    assert len(compared) == 3


def test_a_webhook_needs_an_http_url_and_a_secret():
    for url in ("ftp://example.com/x", "/relative", "https://", "", None):
        with pytest.raises(ValueError, match="absolute http"):
            Webhook(url, SECRET, {})
    for secret in ("", b"bytes", None):
        with pytest.raises(ValueError, match="secret"):
            Webhook("https://example.com/hook", secret, {})


def test_each_attempt_is_signed_afresh_with_the_delivery_id():
    headers = delivery_headers(SECRET, BODY, "n1")
    assert headers[ID_HEADER] == "n1" and headers["content-type"] == "application/json"
    assert verify_webhook(SECRET, headers, BODY)["id"] == "n1"
