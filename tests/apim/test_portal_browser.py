"""The developer portal in headless Chromium: the signed-in user's keys, their usage drawn
as inline SVG, the links to the API reference and the usage page; no axe-core violation, in
light and dark mode; a screenshot kept in docs/img/portal.png for the docs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import random
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bastion.apim import MemoryStore
from tests._processes import free_port, missing
from tests.apim.apim_app import build

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests/integration/node/node_modules/axe-core/axe.min.js"
SCREENSHOT = ROOT / "docs/img/portal.png"
ROUTES = ["GET /reports/{year:int}", "GET /reports", "POST /reports", "GET /reports/{year:int}/pdf"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
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
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A served app where alice has three keys (one rotated, one revoked) and two weeks of
    usage: the last thirteen days written to the store as batches, today's made by requests."""
    import uvicorn

    store = MemoryStore()
    database = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('portal') / 'keys.db'}"
    app, jwt, _ = build(database, store, flush_interval=0.05)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    alice = {"Authorization": "Bearer " + jwt.encode({"sub": "alice"})}
    with httpx.Client(base_url=base, headers=alice) as http:
        ci = http.post(
            "/developer/api/keys", json={"name": "CI pipeline", "scopes": ["reports:read"]}
        ).json()
        dashboard = http.post("/developer/api/keys", json={"name": "Dashboard", "scopes": ["reports:read", "reports:write"]}).json()  # fmt: skip
        old = http.post("/developer/api/keys", json={"name": "Laptop script"}).json()
        http.delete(f"/developer/api/keys/{old['info']['id']}")
        rotated = http.post(f"/developer/api/keys/{ci['info']['id']}/rotate", json={"overlap_seconds": 86400}).json()  # fmt: skip
        for n in range(7):
            http.get(f"/reports/{1999 if n == 3 else 2026}", headers={"X-API-Key": rotated["key"]})
    rng = random.Random(18)
    today = datetime.datetime.now(datetime.UTC).date()
    batch: dict[tuple[str, str, str], list[int]] = {}
    for back in range(1, 14):
        day = (today - datetime.timedelta(days=back)).isoformat()
        weekday = (today - datetime.timedelta(days=back)).weekday() < 5
        for key in (ci, dashboard):
            lookup = key["key"].split("_")[1]
            for route in ROUTES:
                requests = rng.randint(40, 160) * (3 if weekday else 1) // (ROUTES.index(route) + 1)
                errors = rng.randint(0, max(1, requests // 25))
                batch[(lookup, route, day)] = [
                    requests,
                    errors,
                    requests * rng.randint(4000, 21000),
                ]
    # Playwright's sync API runs an event loop in this thread: write from another one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, store.add(batch)).result()
    time.sleep(0.2)  # today's requests: flushed on the timer
    yield base, alice
    server.should_exit = True
    thread.join(timeout=10)


def violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => (await axe.run(document)).violations
            .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"""
    )


def test_the_portal_shows_keys_usage_and_docs_accessibly(chromium: Any, portal: Any) -> None:
    base, alice = portal
    context = chromium.new_context(
        viewport={"width": 1200, "height": 1650}, extra_http_headers=alice
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(base + "/developer")
    assert page.title() == "Developer portal"
    assert page.get_by_role("heading", name="Your API access").is_visible()

    rows = page.locator("section[aria-labelledby=h-keys] tbody tr")
    assert rows.count() == 4
    statuses = sorted(rows.locator(".badge").all_inner_texts())
    assert statuses == ["active", "active", "expiring", "revoked"]
    assert rows.filter(has_text="Laptop script").locator(".badge").inner_text() == "revoked"

    chart = page.get_by_role("img", name="Requests per day")
    assert chart.locator("rect.bar").count() == 14
    assert page.locator("svg.chart").count() == 2
    assert page.locator("script").count() == 0  # drawn on the server: nothing to run
    route_rows = page.locator("section[aria-labelledby=h-routes] tbody tr").all_inner_texts()
    assert route_rows[0].startswith("GET /reports/{year:int}")
    assert page.get_by_role("link", name="API reference").first.get_attribute("href") == "/docs"
    assert violations(page) == []

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_role("link", name="Usage").click()
    page.wait_for_url(base + "/developer/usage")
    assert page.get_by_role("heading", name="Usage", exact=True).is_visible()
    assert page.locator("nav [aria-current=page]").inner_text() == "Usage"
    assert violations(page) == []
    assert not errors
    context.close()

    dark = chromium.new_context(color_scheme="dark", extra_http_headers=alice)
    page = dark.new_page()
    page.goto(base + "/developer")
    assert violations(page) == []
    dark.close()
