"""MailPlugin in an app: configuration, injection, 422s for bad addresses, queued sends
through the jobs battery, and mail previews in development."""

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from bastion import App, Settings
from bastion.exceptions import ConfigurationError
from bastion.jobs import Jobs, JobsPlugin, MemoryBackend
from bastion.jobs.testing import JobsTester
from bastion.mail import (
    SEND_JOB,
    ConsoleTransport,
    EmailAddress,
    Mailer,
    MailPlugin,
    MailPreviews,
    MemoryTransport,
    Message,
    SMTPTransport,
)
from bastion.testing import AsyncTestClient, TestClient
from tests.mail._smtpd import SMTPServer

SECRET = "a-secret-key-of-at-least-32-characters!"


def app_with(plugin: MailPlugin, profile: str = "test", *more: Any) -> App:
    return App(settings=Settings(profile=profile, secret_key=SECRET), plugins=[*more, plugin])


@pytest.fixture(autouse=True)
def no_mail_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BASTION_MAIL_URL", raising=False)
    monkeypatch.delenv("BASTION_MAIL_FROM", raising=False)


# -- configuration --------------------------------------------------------------------------


def test_the_transport_follows_the_profile() -> None:
    dev, test = MailPlugin(), MailPlugin()
    app_with(dev, "dev")
    app_with(test, "test")
    assert isinstance(dev.mailer.transport, ConsoleTransport)
    assert isinstance(test.mailer.transport, MemoryTransport)
    with pytest.raises(ConfigurationError, match="set BASTION_MAIL_URL"):
        app_with(MailPlugin(), "prod")


def test_the_environment_names_the_server_and_the_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_MAIL_URL", "smtps://bot:p%40ss@smtp.example.com?timeout=3&pool=4")
    monkeypatch.setenv("BASTION_MAIL_FROM", "Shop <shop@example.com>")
    plugin = MailPlugin()
    app_with(plugin, "prod")
    transport = plugin.mailer.transport
    assert isinstance(transport, SMTPTransport)
    assert (transport.host, transport.port, transport.implicit_tls) == (
        "smtp.example.com",
        465,
        True,
    )
    assert (transport.username, transport.password) == ("bot", "p@ss")
    assert (transport.timeout, transport.pool_size) == (3.0, 4)
    assert (
        plugin.mailer.sender is not None and str(plugin.mailer.sender) == "Shop <shop@example.com>"
    )


def test_the_settings_name_the_server_and_the_sender() -> None:
    plugin = MailPlugin()
    settings = Settings(profile="test", mail_url="smtp://127.0.0.1:2525?starttls=0",
                        mail_from="shop@example.com")  # fmt: skip
    App(settings=settings, plugins=[plugin])
    transport = plugin.mailer.transport
    assert isinstance(transport, SMTPTransport) and transport.port == 2525
    assert transport.starttls is False
    assert str(plugin.mailer.sender) == "shop@example.com"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("smtp://u:hunter2@host:587?starttls=maybe", "starttls= takes 1 or 0"),
        ("smtp://u:hunter2@host?tls=1", "unknown option(s) tls"),
        ("smtps://u:hunter2@host?starttls=1", "smtps:// is TLS from the start"),
        ("smtp://u:hunter2@host?timeout=0", "timeout= takes a number of seconds above 0"),
        ("smtp://u:hunter2@host:port", "the port must be a number"),
        ("sendmail://u:hunter2@host", "the scheme must be smtp://"),
    ],
)
def test_a_bad_mail_url_says_what_to_write_and_hides_the_password(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says.replace("(", r"\(").replace(")", r"\)")) as e:
        app_with(MailPlugin(url))
    assert "hunter2" not in str(e.value)


def test_a_bad_sender_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="is not an address"):
        app_with(MailPlugin(sender="shop"))


def test_the_console_transport_prints_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    plugin = MailPlugin(sender="shop@example.com")
    app = app_with(plugin, "dev")

    @app.post("/hello")
    async def hello(mailer: Mailer) -> None:
        await mailer.send(Message(to="Zoë <zoe@example.com>", subject="Grüße", text="Hallo"))

    with TestClient(app) as client:
        assert client.post("/hello").status_code == 204
    out = capsys.readouterr().out
    assert "Mail from shop@example.com to zoe@example.com" in out
    assert "Subject: Grüße" in out and "To: Zoë <zoe@example.com>" in out


def test_two_mail_plugins_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="two MailPlugin"):
        app_with(MailPlugin(), "test", MailPlugin())


def test_the_outbox_belongs_to_the_memory_transport() -> None:
    with pytest.raises(ConfigurationError, match="memory://"):
        Mailer("console://").outbox  # noqa: B018


# -- bad input is a 422 ---------------------------------------------------------------------


class Invite(msgspec.Struct):
    email: EmailAddress
    name: str = ""


def invite_app() -> tuple[App, MailPlugin]:
    plugin = MailPlugin(sender="Team <team@example.com>")
    app = app_with(plugin)

    @app.post("/invite", status_code=202)
    async def invite(body: Invite, mailer: Mailer) -> None:
        await mailer.send(Message(to=(body.name, body.email), subject="Join us", text="Come"))

    @app.post("/notify", status_code=202)
    async def notify(to: str, mailer: Mailer) -> None:  # no EmailAddress: the mailer checks
        await mailer.send(Message(to=to, subject="Note", text="x"))

    return app, plugin


@pytest.mark.parametrize(
    "email", ["ada", "ada@", "@example.com", "ada example.com", "a@b@example.com", "a\r\n@x.io"]
)
async def test_an_email_address_field_is_a_422_naming_it(email: str) -> None:
    app, plugin = invite_app()
    async with AsyncTestClient(app) as client:
        response = await client.post("/invite", json={"email": email})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == "body.email"
    assert error["reason"] == "must be a valid e-mail address"
    assert plugin.mailer.outbox == []


async def test_a_good_address_is_sent_and_the_schema_says_email() -> None:
    app, plugin = invite_app()
    async with AsyncTestClient(app) as client:
        response = await client.post("/invite", json={"email": "zoë@example.com", "name": "Zoë"})
        assert response.status_code == 202
        schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["Invite"]
    assert schema["properties"]["email"]["format"] == "email"
    assert plugin.mailer.outbox[0].to == ["Zoë <zoë@example.com>"]


async def test_a_bad_address_reaching_the_mailer_is_a_422_not_a_500() -> None:
    app, plugin = invite_app()
    async with AsyncTestClient(app) as client:
        response = await client.post("/notify", params={"to": "nobody"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "to", "reason": "must be a valid e-mail address"}
    ]
    assert plugin.mailer.outbox == []


# -- queued sends ---------------------------------------------------------------------------


async def test_queue_without_jobs_says_it_needs_jobs_plugin() -> None:
    plugin = MailPlugin(sender="shop@example.com")
    app_with(plugin)
    message = Message(to="ada@example.com", subject="Hi", text="x")
    with pytest.raises(ConfigurationError, match="needs JobsPlugin"):
        await plugin.mailer.send(message, queue=True)
    assert plugin.mailer.outbox == []


@pytest.mark.parametrize("jobs_first", [True, False])
async def test_queue_sends_through_the_bastion_mail_send_job(jobs_first: bool) -> None:
    jobs = Jobs()
    mail = MailPlugin(sender="shop@example.com")
    jobs_plugin = JobsPlugin(jobs, backend=MemoryBackend())
    plugins = [jobs_plugin, mail] if jobs_first else [mail, jobs_plugin]
    app = App(settings=Settings(profile="test"), plugins=plugins)
    assert SEND_JOB in jobs.jobs
    with JobsTester(jobs, app=app) as tester:
        message = Message(to="Zoë <zoe@example.com>", bcc="audit@example.com",
                          subject="Reçu ✓", html="<p>Merci</p>")  # fmt: skip
        message.attach("reçu.txt", "total: 12 €")
        message_id = await mail.mailer.send(message, queue=True)
        assert mail.mailer.outbox == []  # rendered and stored, not sent yet
        run = tester.assert_enqueued(SEND_JOB, sender="shop@example.com")
        assert run.kwargs["recipients"] == ["zoe@example.com", "audit@example.com"]
        assert run.record.queue == "mail" and run.record.max_attempts == 5
        assert await tester.drain() == 1
    [sent] = mail.mailer.outbox
    assert sent["Message-ID"] == message_id
    assert sent.subject == "Reçu ✓" and sent.to == ["Zoë <zoe@example.com>"]
    assert sent.bcc == ["audit@example.com"] and sent.message["Bcc"] is None
    assert sent.text == "Merci\n" and sent.attachments[0].content == "total: 12 €".encode()


async def test_apps_built_again_on_one_jobs_registry_share_one_send_job() -> None:
    jobs = Jobs()
    first, second = MailPlugin(sender="a@example.com"), MailPlugin(sender="b@example.com",
                                                                    queue="outbox")  # fmt: skip
    App(settings=Settings(profile="test"), plugins=[JobsPlugin(jobs), first])
    app = App(settings=Settings(profile="test"), plugins=[JobsPlugin(jobs), second])
    assert list(jobs.jobs) == [SEND_JOB]
    with JobsTester(jobs, app=app) as tester:
        await second.mailer.send(Message(to="ada@example.com", subject="Hi", text="x"), queue=True)
        assert tester.assert_enqueued(SEND_JOB).record.queue == "outbox"
        await tester.drain()
    assert first.mailer.outbox == [] and len(second.mailer.outbox) == 1


def test_bad_job_options_fail_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="max_attempts=0"):
        MailPlugin(max_attempts=0)
    with pytest.raises(ConfigurationError, match="name a queue"):
        MailPlugin(queue="")


async def test_a_queued_send_is_retried_until_the_server_takes_it(
    server: SMTPServer, cafile: str
) -> None:
    jobs = Jobs()
    url = f"smtp://ada:correct%20horse@127.0.0.1:{server.port}?starttls=1&cafile={cafile}"
    mail = MailPlugin(url, sender="shop@example.com")
    app = App(settings=Settings(profile="test"), plugins=[JobsPlugin(jobs), mail])
    server.handler.greylist = 1  # the first RCPT gets a 451, the next is accepted
    with JobsTester(jobs, app=app) as tester:
        await mail.mailer.send(Message(to="ada@example.com", subject="Hi", text="x"), queue=True)
        assert server.received == []
        await tester.drain(due=True, raise_errors=False)
        [record] = await tester.backend.list()
        assert record.state.value == "succeeded" and record.attempt == 2
    await mail.mailer.close()
    assert [r.rcpt_tos for r in server.received] == [["ada@example.com"]]


# -- previews -------------------------------------------------------------------------------


def previews_app(profile: str, tmp_path: Any) -> App:
    (tmp_path / "welcome.html").write_text(
        '<h1>Welcome {{ name }}</h1><img src="{{ cid["logo.png"] }}" alt="logo">'
    )
    previews = MailPreviews()

    @previews.preview
    def welcome() -> Message:
        """The mail a new account gets."""
        message = Message(to="ada@example.com", subject="Welcome <Ada>", template="welcome",
                          context={"name": "<Ada>"})  # fmt: skip
        message.inline("logo.png", b"\x89PNG")
        message.attach("terms.txt", "be nice")
        return message

    @previews.preview(name="receipt")
    async def receipt_preview() -> Message:
        return Message(to="ada@example.com", subject="Receipt", text="Paid")

    plugin = MailPlugin(sender="shop@example.com", templates=tmp_path, previews=previews)
    return app_with(plugin, profile)


def test_previews_list_and_render_each_mail_in_development(tmp_path: Any) -> None:
    with TestClient(previews_app("dev", tmp_path)) as client:
        index = client.get("/_mail")
        assert index.status_code == 200
        assert '<a href="/_mail/receipt">receipt</a>' in index.text
        assert '<a href="/_mail/welcome">welcome</a>: The mail a new account gets.' in index.text
        page = client.get("/_mail/welcome")
        assert "<h1>Welcome &lt;Ada&gt;</h1>" in page.text  # the subject, escaped
        assert 'src="/_mail/welcome/html"' in page.text and "terms.txt" in page.text
        html = client.get("/_mail/welcome/html")
        assert html.headers["content-security-policy"].startswith("sandbox")
        assert "<h1>Welcome &lt;Ada&gt;</h1>" in html.text
        assert 'src="data:image/png;base64,iVBORw==' in html.text
        text = client.get("/_mail/welcome/text")
        assert text.text == "Welcome <Ada>\n\nlogo\n"
        assert "Subject: Welcome <Ada>" in client.get("/_mail/welcome/source").text
        assert client.get("/_mail/receipt/text").text == "Paid\n"
        assert client.get("/_mail/receipt/html").status_code == 404
        assert client.get("/_mail/nope").status_code == 404


@pytest.mark.parametrize("profile", ["test", "prod"])
def test_previews_do_not_exist_outside_development(
    profile: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASTION_MAIL_URL", "memory://")
    with TestClient(previews_app(profile, tmp_path)) as client:
        assert client.get("/_mail").status_code == 404
        assert client.get("/_mail/welcome").status_code == 404


def test_preview_names_are_unique() -> None:
    previews = MailPreviews()
    make: Callable[[], Message] = lambda: Message()  # noqa: E731
    previews.preview(name="a")(make)
    with pytest.raises(ConfigurationError, match="Two mail previews are named 'a'"):
        previews.preview(name="a")(make)
