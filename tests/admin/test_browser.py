"""The admin of the Conduit demo in headless Chromium: refused as a non-staff user, then
signed in as the seeded staff account to search, filter, sort, add an article with a bad
field and fix it, edit it, run a bulk action, delete with confirmation and read the audit
log. axe-core checks the list, edit and login pages (no serious or critical violation, in
light and dark mode), and the list and edit pages are photographed at desktop and phone
widths for docs/admin.md (docs/img/admin-*.png)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bastion import Settings
from bastion.admin._schema import metadata as admin_metadata
from bastion.notifications.database import metadata as notifications_metadata
from examples.conduit.admin import STAFF_PASSWORD, STAFF_USERNAME
from examples.conduit.app import create_app
from examples.conduit.models import Article, Comment, ConduitModel, User, utcnow
from examples.conduit.seed import PASSWORD, seed
from tests._processes import free_port, missing

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests/integration/node/node_modules/axe-core/axe.min.js"
IMAGES = ROOT / "docs/img"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
TOPICS = [
    "Caching that tells the truth",
    "Keyset pagination in practice",
    "Testing against real engines",
    "Migrations without fear",
    "Server-rendered pages still win",
    "Accessible tables for everyone",
    "Dark mode done with variables",
    "Measuring p99 latency",
    "Background jobs on PostgreSQL",
]


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


def conduit_database(path: Path) -> str:
    """A Conduit database with every table, the demo's seed and a few more articles."""
    url = f"sqlite+aiosqlite:///{path}"
    engine = sa.create_engine(f"sqlite:///{path}")
    for metadata in (ConduitModel.metadata, notifications_metadata, admin_metadata):
        metadata.create_all(engine)
    engine.dispose()

    async def fill() -> None:
        database = create_async_engine(url)
        async with AsyncSession(database) as db, db.begin():
            await seed(db)
            alice = await db.scalar(sa.select(User).where(User.username == "alice"))
            bob = await db.scalar(sa.select(User).where(User.username == "bob"))
            start = utcnow() - timedelta(days=60)
            for n, title in enumerate(TOPICS):
                author = alice if n % 2 else bob
                article = Article(
                    slug=re.sub(r"[^a-z0-9]+", "-", title.lower()),
                    title=title,
                    description=f"Notes by {author.username}",
                    body=f"{title}: what we learned.",
                    author_id=author.id,
                    created_at=start + timedelta(days=n),
                    updated_at=start + timedelta(days=n),
                )
                db.add(article)
                await db.flush()
                db.add(Comment(body="Agreed.", article_id=article.id, author_id=alice.id))
        await database.dispose()

    # Playwright's sync API runs an event loop in this thread: seed from another one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, fill()).result()
    return url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    url = conduit_database(tmp_path_factory.mktemp("conduit") / "conduit.db")
    app = create_app(Settings(profile="test"), database_url=url)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def serious_violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => (await axe.run(document)).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"""
    )


def sign_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/admin")
    page.wait_for_url(re.compile(r".*/admin/login\?next=.*"))
    page.get_by_label("Username or e-mail").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def list_titles(page: Any) -> list[str]:
    return page.locator("table.rows tbody th a").all_inner_texts()


def test_a_non_staff_user_is_refused(chromium, served: str):
    page = chromium.new_page(viewport=DESKTOP, bypass_csp=True)
    sign_in(page, served, "alice", PASSWORD)
    assert "not a staff account" in page.locator("#login-error").inner_text()
    assert serious_violations(page) == []
    page.goto(served + "/admin/article")
    assert "/admin/login" in page.url
    page.close()


def test_staff_manage_articles_from_search_to_audit(chromium, served: str):
    IMAGES.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport=DESKTOP, bypass_csp=True)
    page = context.new_page()
    sign_in(page, served, STAFF_USERNAME, STAFF_PASSWORD)
    page.wait_for_url(served + "/admin")
    page.get_by_role("navigation", name="Models").get_by_role("link", name="Articles").click()
    page.wait_for_url(served + "/admin/article")
    assert len(list_titles(page)) == 12
    assert serious_violations(page) == []
    page.screenshot(path=str(IMAGES / "admin-list-desktop.png"), full_page=True)

    # search, then filter by author, then sort by title
    page.keyboard.press("/")  # the script's shortcut to the search box
    page.keyboard.type("engine")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*q=engine.*"))
    assert list_titles(page) == ["Testing against real engines"]
    page.get_by_role("link", name="Clear").click()
    page.locator("aside.filters").get_by_role("link", name="alice").click()
    page.wait_for_url(re.compile(r".*f\.author=.*"))
    assert len(list_titles(page)) == 6
    page.get_by_role("link", name="Title").click()
    page.wait_for_url(re.compile(r".*sort=title.*"))
    titles = list_titles(page)
    assert titles == sorted(titles)
    page.get_by_role("link", name="Title").click()  # again: descending
    assert list_titles(page) == sorted(titles, reverse=True)

    # add an article with a bad field, see the message, fix it
    page.goto(served + "/admin/article")
    page.get_by_role("link", name="Add article").click()
    page.get_by_label("Title").fill("Written in the admin")
    page.get_by_label("Description").fill("A first draft")
    page.get_by_label("Body").fill("Typed in a browser.")
    page.get_by_label("Author").select_option(label="alice")
    page.get_by_role("button", name="Save").click()  # the slug was left empty
    summary = page.locator(".bf-summary")
    assert summary.is_visible()
    slug = page.get_by_label("Slug")
    assert slug.get_attribute("aria-invalid") == "true"
    assert page.locator("#id_slug-errors").inner_text().strip()
    assert page.get_by_label("Title").input_value() == "Written in the admin"
    slug.fill("written-in-the-admin")
    page.get_by_role("button", name="Save").click()
    assert "Added Written in the admin." in page.locator(".notice").inner_text()

    # edit it
    page.get_by_label("Title").fill("Written and edited in the admin")
    page.get_by_role("button", name="Save").click()
    assert "Saved Written and edited in the admin." in page.locator(".notice").inner_text()
    assert serious_violations(page) == []
    page.screenshot(path=str(IMAGES / "admin-edit-desktop.png"), full_page=True)
    edit_url = page.url

    # a bulk action on two rows, confirmed
    page.goto(served + "/admin/article?q=admin")
    page.get_by_label("Select all rows on this page").check()
    page.get_by_label("Action").select_option("reslug")
    page.get_by_role("button", name="Run").click()
    assert "Written and edited in the admin" in page.locator("ul.selected").inner_text()
    page.get_by_role("button", name="Yes, run it").click()
    assert "New slugs for 1 article(s)." in page.locator(".notice").inner_text()
    page.goto(edit_url)
    assert page.get_by_label("Slug").input_value() == "written-and-edited-in-the-admin"

    # delete an article with a comment: the confirmation lists the comment
    page.goto(served + "/admin/article?q=Measuring")
    page.get_by_role("link", name="Measuring p99 latency").click()
    page.get_by_role("link", name="Delete").click()
    consequences = page.locator("ul.consequences").inner_text()
    assert "1 × Comment" in consequences and "deleted" in consequences
    page.get_by_role("button", name="Yes, delete").click()
    assert "Deleted Measuring p99 latency." in page.locator(".notice").inner_text()
    assert "Measuring p99 latency" not in list_titles(page)

    # the audit log has every change
    page.get_by_role("link", name="Audit log").click()
    log = page.locator("table.audit tbody").inner_text()
    for expected in ("add", "change", "reslug", "delete", STAFF_USERNAME):
        assert expected in log
    page.locator("table.audit details summary").first.click()
    assert "Measuring p99 latency" in page.locator("table.audit pre").first.inner_text()

    # dark mode: still no serious violation (contrast included)
    page.emulate_media(color_scheme="dark")
    page.goto(served + "/admin/article")
    assert serious_violations(page) == []
    page.screenshot(path=str(IMAGES / "admin-list-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    # phone widths
    phone = context.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(served + "/admin/article")
    assert serious_violations(phone) == []
    phone.screenshot(path=str(IMAGES / "admin-list-phone.png"), full_page=True)
    phone.goto(edit_url)
    phone.screenshot(path=str(IMAGES / "admin-edit-phone.png"), full_page=True)

    # signing out lands on the login page, which passes axe too
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/admin/login"))
    assert serious_violations(page) == []
    context.close()
