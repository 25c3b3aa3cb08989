"""Delivery to a real SMTP server (aiosmtpd) with STARTTLS or TLS and AUTH, read back with
the ``email`` package."""

import asyncio
import socket
import time
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from bastion.mail import (
    DeliveryError,
    InvalidAddress,
    MailAuthenticationError,
    Mailer,
    Message,
    SMTPTransport,
)
from tests.mail._smtpd import SMTPServer

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def url(server: SMTPServer, cafile: str, *, user: str = "ada", password: str = "correct%20horse",
        scheme: str = "smtp", query: str = "starttls=1") -> str:  # fmt: skip
    return f"{scheme}://{user}:{password}@127.0.0.1:{server.port}?{query}&cafile={cafile}"


def mailer_for(server: SMTPServer, cafile: str, **options: str) -> Mailer:
    return Mailer(url(server, cafile, **options), sender="Bastion Shop <shop@example.com>")


async def test_starttls_and_login_deliver_a_full_message(server: SMTPServer, cafile: str) -> None:
    mailer = mailer_for(server, cafile)
    message = Message(
        to=["Zoë Martin <zoe@example.com>", ("Ada, Countess of Lovelace", "ada@example.com")],
        cc="Grace Hopper <grace@example.com>",
        bcc="audit@example.com",
        reply_to="Support Team <support@example.com>",
        subject="Votre facture — merci, Zoë",
        html='<h1>Merci</h1><p>Voir <a href="https://shop.example/f/1">la facture</a></p>'
        '<img src="{logo}" alt="Logo">',
        headers={"X-Campaign": "invoices"},
    )
    logo = message.inline("logo.png", PNG)
    message.html = (message.html or "").replace("{logo}", logo)
    message.attach("facture été.pdf", b"%PDF-1.4 fake")
    message.attach("data.csv", "a,b\n1,2\n")
    message_id = await mailer.send(message)
    await mailer.close()

    [received] = server.received
    assert received.tls and received.login == "ada"
    assert received.mail_from == "shop@example.com"
    assert received.rcpt_tos == [
        "zoe@example.com",
        "ada@example.com",
        "grace@example.com",
        "audit@example.com",
    ]
    raw = received.data
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]  # RFC 2047 in the header block
    assert raw.isascii()  # no SMTPUTF8 needed: every header is encoded
    mail = received.message()
    assert mail["Message-ID"] == message_id
    assert mail["Subject"] == "Votre facture — merci, Zoë"
    assert [a.display_name for a in mail["To"].addresses] == [
        "Zoë Martin",
        "Ada, Countess of Lovelace",
    ]
    assert str(mail["Cc"]) == "Grace Hopper <grace@example.com>"
    assert str(mail["Reply-To"]) == "Support Team <support@example.com>"
    assert mail["Bcc"] is None  # blind copies are in the envelope only
    assert mail["X-Campaign"] == "invoices"
    assert mail.get_content_type() == "multipart/mixed"
    alternative = mail.get_payload()[0]
    assert alternative.get_content_type() == "multipart/alternative"
    plain, related = alternative.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert "Voir la facture (https://shop.example/f/1)" in plain.get_content()
    assert related.get_content_type() == "multipart/related"
    html, image = related.get_payload()
    assert html.get_content_type() == "text/html"
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    assert image.get_content_type() == "image/png" and image.get_content() == PNG
    files = list(mail.iter_attachments())
    assert [(f.get_filename(), f.get_content_type()) for f in files] == [
        ("facture été.pdf", "application/pdf"),
        ("data.csv", "text/csv"),
    ]
    assert files[0].get_content() == b"%PDF-1.4 fake"
    assert files[1].get_payload(decode=True) == b"a,b\n1,2\n"


async def test_auth_login_is_used_when_the_server_offers_only_login(
    smtp_server: Callable[..., SMTPServer], cafile: str
) -> None:
    server = smtp_server(exclude_mechanisms=["PLAIN"])
    mailer = mailer_for(server, cafile)
    await mailer.send(Message(to="ada@example.com", subject="Hi", text="Hello"))
    await mailer.close()
    assert server.handler.mechanisms == ["LOGIN"]
    assert server.received[0].login == "ada"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls_from_an_smtps_url(
    smtp_server: Callable[..., SMTPServer], cafile: str
) -> None:
    # aiosmtpd sees TLS only after STARTTLS, so it is told not to insist on it here.
    server = smtp_server(implicit_tls=True, require_tls_for_auth=False)
    mailer = mailer_for(server, cafile, scheme="smtps", query="timeout=5")
    await mailer.send(Message(to="ada@example.com", subject="Hi", text="Hello"))
    await mailer.close()
    assert server.received[0].tls and server.received[0].login == "ada"


async def test_one_connection_carries_several_messages(server: SMTPServer, cafile: str) -> None:
    mailer = mailer_for(server, cafile)
    for n in range(3):
        await mailer.send(Message(to="ada@example.com", subject=f"#{n}", text="x"))
    assert server.connections == 1 and len(server.received) == 3
    # Concurrent sends use at most the pool's connections (2 by default).
    await asyncio.gather(
        *(mailer.send(Message(to="ada@example.com", subject="burst", text="x")) for _ in range(8))
    )
    assert len(server.received) == 11
    assert server.connections == 2
    await mailer.close()


async def test_a_connection_the_server_closed_is_replaced(server: SMTPServer, cafile: str) -> None:
    mailer = mailer_for(server, cafile)
    await mailer.send(Message(to="ada@example.com", subject="first", text="x"))
    server.drop_connections()  # a restart, or the server's idle timeout
    await mailer.send(Message(to="ada@example.com", subject="second", text="x"))
    await mailer.close()
    assert [r.message()["Subject"] for r in server.received] == ["first", "second"]
    assert server.connections == 2


async def test_an_idle_connection_is_checked_before_it_is_reused(
    smtp_server: Callable[..., SMTPServer], cafile: str
) -> None:
    # The server hangs up on clients idle for 1 s (0.3 s was shorter than a handshake can
    # take on a loaded CI machine, which then failed the first send).
    server = smtp_server(timeout=1.0)
    transport = SMTPTransport(
        "127.0.0.1", server.port, username="ada", password="correct horse", starttls=True,
        cafile=cafile, ping_after=0.0,
    )  # fmt: skip
    mailer = Mailer(transport, sender="shop@example.com")
    await mailer.send(Message(to="ada@example.com", subject="first", text="x"))
    await asyncio.sleep(1.5)
    await mailer.send(Message(to="ada@example.com", subject="second", text="x"))
    await mailer.close()
    assert len(server.received) == 2 and transport.connections_opened == 2


async def test_a_refused_login_is_a_clear_error(server: SMTPServer, cafile: str) -> None:
    mailer = mailer_for(server, cafile, password="wrong-password")
    with pytest.raises(MailAuthenticationError) as caught:
        await mailer.send(Message(to="ada@example.com", subject="Hi", text="x"))
    message = str(caught.value)
    assert f"127.0.0.1:{server.port} refused the login of 'ada' (535" in message
    assert "check the user name and password in the mail URL" in message
    assert "wrong-password" not in message
    assert caught.value.temporary is False and caught.value.code == 535
    assert server.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_a_password_is_never_sent_over_a_plain_connection(
    smtp_server: Callable[..., SMTPServer], cafile: str
) -> None:
    server = smtp_server(tls=None, require_tls_for_auth=False)  # offers AUTH without TLS
    mailer = mailer_for(server, cafile, query="timeout=5")
    with pytest.raises(DeliveryError, match="did not offer STARTTLS, so the password"):
        await mailer.send(Message(to="ada@example.com", subject="Hi", text="x"))
    assert server.handler.mechanisms == []
    # On a trusted network, starttls=0 says so.
    trusted = mailer_for(server, cafile, query="starttls=0")
    await trusted.send(Message(to="ada@example.com", subject="Hi", text="x"))
    await trusted.close()
    assert server.received[0].login == "ada" and not server.received[0].tls


async def test_an_unverifiable_certificate_says_to_give_a_cafile(server: SMTPServer) -> None:
    mailer = Mailer(
        f"smtp://ada:x@127.0.0.1:{server.port}?starttls=1&timeout=5", sender="shop@example.com"
    )
    with pytest.raises(DeliveryError, match="give cafile="):
        await mailer.send(Message(to="ada@example.com", subject="Hi", text="x"))


async def test_a_server_that_never_answers_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # connections complete in the backlog; nobody ever says 220
    port = listener.getsockname()[1]
    try:
        mailer = Mailer(f"smtp://127.0.0.1:{port}?timeout=0.5", sender="shop@example.com")
        started = time.monotonic()
        with pytest.raises(DeliveryError, match="did not answer within 0.5 s") as caught:
            await mailer.send(Message(to="ada@example.com", subject="Hi", text="x"))
        assert time.monotonic() - started < 3
        assert caught.value.temporary
    finally:
        listener.close()


async def test_a_server_that_stalls_mid_message_times_out(server: SMTPServer, cafile: str) -> None:
    server.handler.stall = 5.0
    mailer = mailer_for(server, cafile, query="starttls=1&timeout=0.5")
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="did not answer within 0.5 s"):
        await mailer.send(Message(to="ada@example.com", subject="Hi", text="x"))
    assert time.monotonic() - started < 4
    server.handler.stall = 0
    await mailer.send(Message(to="ada@example.com", subject="again", text="x"))  # a new one
    await mailer.close()
    assert server.connections == 2


async def test_an_unreachable_server_is_a_delivery_error() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    mailer = Mailer(f"smtp://127.0.0.1:{port}?timeout=2", sender="shop@example.com")
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{port}"):
        await mailer.send(Message(to="ada@example.com", subject="Hi", text="x"))


async def test_refused_recipients(server: SMTPServer, cafile: str) -> None:
    server.handler.refuse = {"gone@example.com": "550 No such user"}
    mailer = mailer_for(server, cafile)
    with pytest.raises(DeliveryError, match="refused every recipient: gone@example.com") as err:
        await mailer.send(Message(to="gone@example.com", subject="Hi", text="x"))
    assert err.value.code == 550 and not err.value.temporary
    # Some refused: the others get it (the connection survives the refusal).
    await mailer.send(Message(to=["gone@example.com", "ada@example.com"], subject="Hi", text="x"))
    await mailer.close()
    assert server.received[0].rcpt_tos == ["ada@example.com"]
    assert server.connections == 1


async def test_a_non_ascii_mailbox_goes_out_with_smtputf8(server: SMTPServer, cafile: str) -> None:
    mailer = mailer_for(server, cafile)
    await mailer.send(Message(to="Zoë <zoë@bücher.example>", subject="Grüße", text="Hallo"))
    await mailer.close()
    [received] = server.received
    assert "SMTPUTF8" in received.mail_options
    assert received.rcpt_tos == ["zoë@xn--bcher-kva.example"]
    assert received.message()["To"].addresses[0].username == "zoë"


async def test_smtputf8_refused_by_the_server_is_a_clear_error(
    smtp_server: Callable[..., SMTPServer], cafile: str
) -> None:
    server = smtp_server(smtputf8=False)
    mailer = mailer_for(server, cafile)
    with pytest.raises(DeliveryError, match="non-ASCII local part, which needs SMTPUTF8"):
        await mailer.send(Message(to="zoë@example.com", subject="Hi", text="x"))
    # An internationalised domain alone needs no SMTPUTF8: it goes out as IDNA.
    await mailer.send(Message(to="zoe@bücher.example", subject="Hi", text="x"))
    await mailer.close()
    assert server.received[0].rcpt_tos == ["zoe@xn--bcher-kva.example"]


async def test_a_bad_address_is_refused_before_connecting(server: SMTPServer, cafile: str) -> None:
    mailer = mailer_for(server, cafile)
    with pytest.raises(InvalidAddress) as caught:
        await mailer.send(Message(to=["ada@example.com", "not an address"], subject="Hi", text="x"))
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == "to[1]"
    assert server.connections == 0


async def test_an_email_message_written_by_hand(server: SMTPServer, cafile: str) -> None:
    mailer = mailer_for(server, cafile)
    mail = EmailMessage()
    mail["To"] = "ada@example.com"
    mail["Bcc"] = "audit@example.com"
    mail["Subject"] = "Plain"
    mail.set_content("Just text")
    await mailer.send(mail)
    await mailer.close()
    [received] = server.received
    assert received.rcpt_tos == ["ada@example.com", "audit@example.com"]
    arrived = received.message()
    assert arrived["From"] == "Bastion Shop <shop@example.com>" and arrived["Bcc"] is None
    assert arrived["Message-ID"] and arrived["Date"]
    assert mail["Bcc"] == "audit@example.com"  # the caller's message is left as it was
