"""The debug page in headless Chromium: it renders under its own CSP (the nonce'd style and
script run), frames fold and unfold, the copy button copies the plain-text report, and a
screenshot is kept in docs/img/debug-page.png for the docs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bastion.testing import TestClient
from tests._processes import missing
from tests.http.test_debug_page import HTML, make_app, post_order

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "debug-page.png"


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


def test_debug_page_in_a_browser(chromium):
    response = post_order(TestClient(make_app(), raise_server_exceptions=False), HTML)
    context = chromium.new_context(
        viewport={"width": 1200, "height": 1500},
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and blocked.append(m.text))
    # Served as the app sent it (status, CSP header and all), on a secure-context origin.
    page.route(
        "http://localhost/**",
        lambda route: route.fulfill(
            status=response.status_code, headers=dict(response.headers), body=response.content
        ),
    )
    page.goto("http://localhost/orders/7")
    assert page.title() == "RuntimeError · Bastion debug"
    # The stylesheet applied (nonce accepted): the header is dark.
    background = page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(29, 35, 48)"
    assert not blocked
    # The app frame is open, showing the failing line highlighted; library frames fold.
    hit = page.locator("details.frame.app[open] tr.hit").last
    assert "raise RuntimeError" in hit.inner_text()
    assert page.locator("details.frame.lib:not([open])").count() >= 1

    page.click("#copy")
    page.wait_for_selector("#copy[data-copied='yes']", state="attached")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("Traceback (most recent call last):")
    assert "RuntimeError: cannot place order 7" in copied
    assert "BOOK-hunter" not in copied and "tok-xyz-987" not in copied

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(2000)  # let the button's label return before the picture
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    context.close()
