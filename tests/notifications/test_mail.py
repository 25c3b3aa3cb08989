"""The mail channel, through the app's Mailer: into the memory outbox (at once, after the
request's commit, or queued as a bastion.mail.send job with JobsPlugin), and delivered to a
real SMTP server (aiosmtpd) by a jobs worker."""

import asyncio
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import App, Settings
from bastion.exceptions import Conflict
from bastion.jobs import Jobs, JobsPlugin
from bastion.jobs.testing import JobsTester
from bastion.mail import SEND_JOB, InvalidAddress, MailPlugin, Message
from bastion.notifications import Notification, NotificationsPlugin, notify
from bastion.testing import TestClient
from tests.mail._smtpd import SMTPServer
from tests.notifications._app import ArticleCommented, User, build

MAIL = ("mail",)


async def test_mail_goes_to_the_notifiables_address_through_the_mailer():
    mail = MailPlugin(sender="Conduit <hello@example.com>")
    app = App(settings=Settings(profile="test"), plugins=[mail, NotificationsPlugin()])
    async with app.lifespan():
        await notify(
            [User(1, "ada@example.com"), User(2, "Bob <bob@example.com>")],
            ArticleCommented("Dragons", "So <good>", MAIL),
        )
    ada, bob = mail.mailer.outbox
    assert ada.to == ["ada@example.com"] and bob.to == ["Bob <bob@example.com>"]
    assert ada.subject == "New comment on Dragons"
    assert (
        ada.sender == "hello@example.com" and ada.message["From"] == "Conduit <hello@example.com>"
    )
    assert ada.text.strip() == "Someone wrote: So"  # the text part made from to_mail's HTML


async def test_a_message_naming_its_recipients_keeps_them():
    class Digest(Notification):
        def via(self, notifiable):
            return ["mail"]

        def to_mail(self, notifiable):
            return Message(to="team@example.com", subject="Digest", text="3 new comments")

    mail = MailPlugin(sender="hello@example.com")
    app = App(settings=Settings(profile="test"), plugins=[mail, NotificationsPlugin()])
    async with app.lifespan():
        await notify(User(1, "ada@example.com"), Digest())
    assert [m.to for m in mail.mailer.outbox] == [["team@example.com"]]


async def test_a_bad_address_or_no_address_fails_before_anything_is_sent(tmp_path):
    mail = MailPlugin(sender="hello@example.com")
    app = build(mail, url=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    both = ArticleCommented("Dragons", "hi", ("database", "mail"))
    async with app.lifespan():
        with pytest.raises(InvalidAddress):
            await notify([User(1, "ada@example.com"), User(2, "bob at example")], both)
        with pytest.raises(TypeError, match="has no `email`"):
            await notify(object.__new__(type("Anonymous", (), {"id": 3})), both)
        plugin = next(p for p in app.plugins if isinstance(p, NotificationsPlugin))
        assert await plugin.inbox.unread_count(User(1)) == 0  # nothing stored for anyone
    assert mail.mailer.outbox == []


def test_in_a_request_the_mail_leaves_after_the_commit_and_never_for_a_rollback(tmp_path):
    mail = MailPlugin(sender="hello@example.com")
    app = build(mail, url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    sent_in_the_handler: list[int] = []

    @app.post("/comments")
    async def comment(db: AsyncSession, fail: bool = False) -> None:
        await notify(User(1, "ada@example.com"), ArticleCommented("Dragons", "hi", MAIL))
        sent_in_the_handler.append(len(mail.mailer.outbox))
        if fail:
            raise Conflict("refused")

    with TestClient(app) as client:
        assert client.post("/comments?fail=true").status_code == 409
        assert client.post("/comments").status_code == 204
    assert sent_in_the_handler == [0, 0]
    assert [m.to for m in mail.mailer.outbox] == [["ada@example.com"]]


async def test_with_jobs_the_mail_is_queued_and_a_worker_sends_it():
    jobs = Jobs()
    mail = MailPlugin(sender="hello@example.com")
    app = App(
        settings=Settings(profile="test"),
        plugins=[JobsPlugin(jobs), mail, NotificationsPlugin()],
    )
    async with app.lifespan():
        with JobsTester(jobs, app=app) as tester:
            await notify(User(1, "ada@example.com"), ArticleCommented("Dragons", "hi", MAIL))
            assert mail.mailer.outbox == []
            tester.assert_enqueued(SEND_JOB, recipients=["ada@example.com"])
            assert await tester.drain() == 1
    assert mail.mailer.outbox[0].subject == "New comment on Dragons"


async def test_a_worker_delivers_it_to_a_real_smtp_server():
    server = SMTPServer(tls=None, auth=False).start()
    try:
        jobs = Jobs()
        mail = MailPlugin(f"smtp://127.0.0.1:{server.port}?starttls=0", sender="hi@example.com")
        app = App(
            settings=Settings(profile="test"),
            plugins=[
                JobsPlugin(jobs, backend="memory", run_worker=True, poll=0.05),
                mail,
                NotificationsPlugin(),
            ],
        )
        async with app.lifespan():
            await notify(User(1, "zoë@example.com"), ArticleCommented("Drachen", "schön", MAIL))
            deadline = time.monotonic() + 10
            while not server.received and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        [received] = server.received
        assert received.rcpt_tos == ["zoë@example.com"]
        message = received.message()
        assert message["Subject"] == "New comment on Drachen"
        assert message.get_content_type() == "multipart/alternative"
        text, html = message.iter_parts()
        assert text.get_content().strip() == "Someone wrote: schön"
        assert "<b>schön</b>" in html.get_content()
    finally:
        server.stop()
