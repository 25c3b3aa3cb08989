"""CSRF on forms: the token travels in the rendered form; a refused browser gets a page."""

from __future__ import annotations

import re

from bastion.testing import TestClient
from tests.forms._app import BASE, VALID, signup_app

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def token_of(page: str) -> str:
    found = re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', page)
    assert found, "the form carries no CSRF input"
    return found.group(1)


def test_rendered_form_carries_a_token_that_lets_the_post_through():
    client = TestClient(signup_app(), base_url=BASE)
    page = client.get("/signup")
    assert "csrftoken" in page.headers["set-cookie"]
    response = client.post("/signup", data={**VALID, "csrf_token": token_of(page.text)})
    assert response.status_code == 201


def test_redisplayed_form_carries_a_token_too():
    client = TestClient(signup_app(), base_url=BASE)
    token = token_of(client.get("/signup").text)
    again = client.post("/signup", data={"csrf_token": token}, headers=BROWSER)
    assert again.status_code == 422
    fixed = {**VALID, "csrf_token": token_of(again.text)}
    assert client.post("/signup", data=fixed).status_code == 201


def test_browser_form_post_without_token_gets_an_html_page():
    client = TestClient(signup_app(), base_url=BASE)
    client.get("/signup")
    refused = client.post("/signup", data=VALID, headers=BROWSER)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "text/html; charset=utf-8"
    assert refused.headers["x-csrf-refusal"] == "missing"
    assert "<h1>This form could not be sent</h1>" in refused.text
    assert "reload the page" in refused.text


def test_cross_origin_browser_post_gets_a_page_saying_so():
    client = TestClient(signup_app(), base_url=BASE)
    token = token_of(client.get("/signup").text)
    refused = client.post(
        "/signup",
        data={**VALID, "csrf_token": token},
        headers={**BROWSER, "origin": "https://evil.example"},
    )
    assert refused.status_code == 403
    assert refused.headers["x-csrf-refusal"] == "cross-origin"
    assert "sent from another site" in refused.text


def test_json_client_is_still_refused_with_problem_json():
    client = TestClient(signup_app(), base_url=BASE)
    client.get("/signup")
    for accept in ("application/json", "*/*"):
        refused = client.post("/signup", data=VALID, headers={"accept": accept})
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["reason"] == "missing"


def test_unreadable_body_behind_csrf_stays_a_problem_even_for_browsers():
    client = TestClient(signup_app(), base_url=BASE)
    client.get("/signup")
    broken = client.post(
        "/signup",
        content=b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1',
        headers={**BROWSER, "content-type": "multipart/form-data; boundary=x"},
    )
    assert broken.status_code == 400
    assert broken.headers["content-type"] == "application/problem+json"
