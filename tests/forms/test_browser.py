"""The sign-up page with errors in headless Chromium: the theme applies under the app's CSP
(nonce'd inline style), axe-core finds no serious or critical accessibility violation, and
screenshots (desktop, phone, dark mode) are kept under docs/img/ for docs/forms.md."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bastion.testing import TestClient
from tests._processes import missing
from tests.forms._app import BASE, signup_app

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "integration" / "node" / "node_modules" / "axe-core" / "axe.min.js"
IMAGES = ROOT / "docs" / "img"


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("The playwright package is not installed (pip install playwright)")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        missing("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def bad_page():
    client = TestClient(signup_app(), base_url=BASE)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signup").text)
    assert token
    return client.post(
        "/signup",
        data={
            "csrf_token": token.group(1),
            "name": "A",
            "email": "ann@example",
            "age": "9",
            "bio": "Hello",
            "plan": "pro",
            "tags": ["py", "go"],
            "newsletter": "on",
        },
        headers={"accept": "text/html"},
    )


def open_page(chromium, response, body=None, **context):
    page = chromium.new_context(**context).new_page()
    blocked: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and blocked.append(m.text))
    page.route(
        "https://testserver/**",
        lambda route: route.fulfill(
            status=response.status_code,
            headers=dict(response.headers),
            body=body if body is not None else response.content,
        ),
    )
    page.goto("https://testserver/signup")
    return page, blocked


def test_bad_form_page_is_styled_accessible_and_screenshotted(chromium, bad_page):
    assert bad_page.status_code == 422
    page, blocked = open_page(chromium, bad_page, viewport={"width": 1000, "height": 900})
    assert not blocked  # the inline theme carries the CSP nonce
    button = page.eval_on_selector(".bf-button", "e => getComputedStyle(e).backgroundColor")
    assert button == "rgb(36, 84, 214)"
    error = page.eval_on_selector(".bf-errors", "e => getComputedStyle(e).color")
    assert error == "rgb(179, 38, 30)"
    page.evaluate(AXE.read_text())
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target).join(', '))"
    )
    assert violations == []
    page.screenshot(path=str(IMAGES / "forms-errors.png"), full_page=True)


def test_phone_width_and_dark_mode(chromium, bad_page):
    phone, _ = open_page(
        chromium, bad_page, viewport={"width": 390, "height": 844}, device_scale_factor=2
    )
    width = phone.eval_on_selector(".bf-form", "e => e.getBoundingClientRect().width")
    assert width <= 390
    overflow = phone.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert not overflow
    phone.screenshot(path=str(IMAGES / "forms-phone.png"))
    dark, _ = open_page(
        chromium, bad_page, viewport={"width": 1000, "height": 900}, color_scheme="dark"
    )
    text = dark.eval_on_selector(".bf-form", "e => getComputedStyle(e).color")
    assert text == "rgb(230, 233, 237)"
    dark.screenshot(path=str(IMAGES / "forms-dark.png"))


def test_a_light_only_page_keeps_a_light_form_in_dark_mode(chromium, bad_page):
    light_only = bad_page.content.replace(b'<meta name="color-scheme" content="light dark">', b"")
    page, _ = open_page(chromium, bad_page, body=light_only, color_scheme="dark")
    text = page.eval_on_selector(".bf-form", "e => getComputedStyle(e).color")
    assert text == "rgb(28, 32, 36)"  # dark text on the page's white, not light on white
