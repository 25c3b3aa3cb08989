"""The chat example in headless Chromium: two tabs see each other's messages and presence,
and a reload shows the history kept in the database."""

import shutil

import pytest

from tests.channels._live import missing, uvicorn


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


def enter(page, url, name):
    page.goto(url)
    page.fill("#name", name)
    page.fill("#room", "lobby")
    page.click("#enter button")
    page.wait_for_selector("#chat:not([hidden])")


def test_two_tabs_chat_and_see_each_other(chromium, tmp_path):
    env = {"BASTION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chat.db"}
    with uvicorn("examples.chat.app:create_app", env, cwd=tmp_path) as url:
        context = chromium.new_context()
        alice, bob = context.new_page(), context.new_page()
        enter(alice, url, "alice")
        enter(bob, url, "bob")
        for page in (alice, bob):
            page.wait_for_function(
                "() => ['alice', 'bob'].every(n => [...document.querySelectorAll('#online li')]"
                ".some(li => li.textContent === n))"
            )

        alice.fill("#body", "hello <b>bob</b>")
        alice.press("#body", "Enter")
        bob.wait_for_selector("#messages li:has-text('hello <b>bob</b>')")  # text, not markup
        bob.fill("#body", "hi alice")
        bob.press("#body", "Enter")
        alice.wait_for_selector("#messages li:has-text('hi alice')")
        assert alice.input_value("#body") == ""  # cleared on the ok reply

        bob.close()
        alice.wait_for_function(
            "() => [...document.querySelectorAll('#online li')].map(li => li.textContent)"
            ".join() === 'alice'"
        )

        carol = context.new_page()
        enter(carol, url, "carol")
        carol.wait_for_selector("#messages li:has-text('hi alice')")  # history from the db
        texts = carol.locator("#messages li").all_text_contents()
        assert texts == ["alicehello <b>bob</b>", "bobhi alice"]

        # A browser on long polling chats with one on a WebSocket.
        dave = context.new_page()
        polls = []
        dave.on("request", lambda r: "/socket/longpoll" in r.url and polls.append(r.method))
        enter(dave, url + "/?transport=longpoll", "dave")
        alice.wait_for_selector("#online li:has-text('dave')")
        dave.fill("#body", "polling here")
        dave.press("#body", "Enter")
        alice.wait_for_selector("#messages li:has-text('polling here')")
        alice.fill("#body", "heard you")
        alice.press("#body", "Enter")
        dave.wait_for_selector("#messages li:has-text('heard you')")
        assert {"GET", "POST"} <= set(polls)

        # A network that swallows WebSockets (opened, then silent): the page falls back to
        # long polling after 2.5 s, as it is configured to, and chats on.
        eve = context.new_page()
        eve.route_web_socket("**/socket/websocket**", lambda ws: None)  # never reaches us
        fell_back = []
        eve.on("request", lambda r: "/socket/longpoll" in r.url and fell_back.append(r.method))
        enter(eve, url, "eve")
        alice.wait_for_selector("#online li:has-text('eve')")
        eve.fill("#body", "through the fallback")
        eve.press("#body", "Enter")
        alice.wait_for_selector("#messages li:has-text('through the fallback')")
        assert "POST" in fell_back
        context.close()
