"""Rendering messages: templates, the generated text part, addresses and headers checked
before anything is sent."""

from email.message import EmailMessage
from pathlib import Path

import pytest

from bastion.exceptions import ConfigurationError, ValidationError
from bastion.mail import (
    Envelope,
    InvalidAddress,
    InvalidMessage,
    Mailer,
    Message,
    SentMail,
    html_to_text,
)
from bastion.templates import Templates


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "welcome.html").write_text(
        '<p>Hello {{ name }}</p><img src="{{ cid["logo.png"] }}" alt="Logo">'
    )
    (tmp_path / "mail" / "welcome.txt").write_text("Hello {{ name }} & welcome")
    (tmp_path / "mail" / "only.html").write_text("<h1>Hi {{ name }}</h1><p>Bye</p>")
    (tmp_path / "mail" / "plain.txt").write_text("Just {{ name }}")
    return tmp_path


def mailer(**options: object) -> Mailer:
    return Mailer("memory://", sender="Shop <shop@example.com>", **options)  # type: ignore[arg-type]


async def test_html_templates_escape_and_text_templates_do_not(templates: Path) -> None:
    m = mailer(templates=templates)
    message = Message(to="ada@example.com", subject="Hi", template="mail/welcome",
                      context={"name": "<Ada & Bob>"})  # fmt: skip
    message.inline("logo.png", b"\x89PNG")
    await m.send(message)
    [sent] = m.outbox
    assert sent.html is not None and "<p>Hello &lt;Ada &amp; Bob&gt;</p>" in sent.html
    assert 'src="cid:' in sent.html and sent.inline_images[0].cid in sent.html
    assert sent.text == "Hello <Ada & Bob> & welcome\n"


async def test_the_text_part_is_made_from_the_html_when_there_is_none(templates: Path) -> None:
    m = mailer(templates=Templates(templates))  # the app's Templates work too
    await m.send(Message(to="ada@example.com", subject="Hi", template="mail/only",
                         context={"name": "Ada"}))  # fmt: skip
    await m.send(Message(to="ada@example.com", subject="Hi", template="mail/plain",
                         context={"name": "<Ada>"}))  # fmt: skip
    first, second = m.outbox
    assert first.text == "Hi Ada\n\nBye\n"
    assert first.message.get_content_type() == "multipart/alternative"
    assert second.text == "Just <Ada>\n" and second.html is None
    assert second.message.get_content_type() == "text/plain"


async def test_a_missing_template_names_what_was_looked_for(templates: Path) -> None:
    with pytest.raises(InvalidMessage, match="neither mail/nope.html nor mail/nope.txt"):
        await mailer(templates=templates).send(
            Message(to="ada@example.com", subject="Hi", template="mail/nope")
        )
    with pytest.raises(ConfigurationError, match="needs templates"):
        await mailer().send(Message(to="ada@example.com", subject="Hi", template="mail/nope"))


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("to", "not-an-address", "to"),
        ("to", ["ada@example.com", "ada@localhost"], "to[1]"),
        ("cc", "Ada <ada@@example.com>", "cc"),
        ("bcc", ["a b@example.com"], "bcc[0]"),
        ("reply_to", "ada@example.com, bob@example.com", "reply_to"),
        ("sender", "Evil\r\nBcc: x@example.com <e@example.com>", "sender"),
        ("to", ("Ada\nBcc: victim@example.com", "ada@example.com"), "to"),
        ("to", 42, "to"),
    ],
)
async def test_bad_addresses_name_their_field_before_the_transport(
    field: str, value: object, where: str
) -> None:
    m = mailer()
    options: dict[str, object] = {"to": "ok@example.com", field: value}
    with pytest.raises(InvalidAddress) as caught:
        await m.send(Message(subject="Hi", text="x", **options))  # type: ignore[arg-type]
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, ValidationError)
    assert error.field == where and str(error).startswith(f"{where}: ")
    assert error.errors == [{"field": where, "reason": "must be a valid e-mail address"}]
    assert m.outbox == []


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"subject": "Hi\r\nBcc: victim@example.com"}, "subject: must be text without line"),
        ({"headers": {"X-Tag": "a\r\nBcc: victim@example.com"}}, "without line breaks"),
        ({"headers": {"Bad Name": "x"}}, "is not a header name"),
        ({"headers": {"To": "x@example.com"}}, "set To through the message's to="),
        ({"to": ()}, "no recipient"),
        ({"text": None}, "no body"),
        ({"template": "x", "text": "y"}, "not both"),
    ],
)
async def test_messages_that_cannot_be_sent_say_why(options: dict, says: str) -> None:
    base = {"to": "ada@example.com", "subject": "Hi", "text": "x"}
    with pytest.raises(InvalidMessage, match=says):
        await mailer().send(Message(**{**base, **options}))


async def test_a_sender_is_required_and_checked_at_construction() -> None:
    with pytest.raises(InvalidMessage, match="no sender"):
        await Mailer("memory://").send(Message(to="ada@example.com", subject="Hi", text="x"))
    with pytest.raises(ConfigurationError, match="is not an address"):
        Mailer("memory://", sender="shop at example")


async def test_custom_date_and_message_id_replace_the_defaults() -> None:
    m = mailer()
    headers = {"Message-ID": "<fixed@example.com>", "List-Unsubscribe": "<https://u.example>"}
    message_id = await m.send(Message(to="ada@example.com", subject="Hi", text="x",
                                      headers=headers))  # fmt: skip
    sent = m.outbox[0]
    assert message_id == "<fixed@example.com>" == sent["Message-ID"]
    assert sent["List-Unsubscribe"] == "<https://u.example>"
    assert len(sent.message.get_all("Message-ID") or []) == 1


def test_inline_takes_only_images() -> None:
    with pytest.raises(InvalidMessage, match="is not an image"):
        Message().inline("report.pdf", b"%PDF")
    with pytest.raises(InvalidMessage, match="plain file name"):
        Message().attach("../etc/passwd", b"x")


async def test_inline_images_need_an_html_part() -> None:
    message = Message(to="ada@example.com", subject="Hi", text="x")
    message.inline("logo.png", b"\x89PNG")
    with pytest.raises(InvalidMessage, match="HTML part"):
        await mailer().send(message)


async def test_an_envelope_survives_storage_with_its_unicode() -> None:
    message = Message(to="Zoë <zoë@bücher.example>", bcc="audit@example.com",
                      subject="Grüße ✓", html="<p>Größe</p>")  # fmt: skip
    message.attach("é.txt", "contenu é")
    envelope = mailer().render(message)
    assert envelope.smtputf8
    again = Envelope.from_bytes(envelope.to_bytes(), envelope.sender, list(envelope.recipients))
    sent = SentMail(again)
    assert sent.subject == "Grüße ✓" and sent.to == ["Zoë <zoë@xn--bcher-kva.example>"]
    assert sent.bcc == ["audit@example.com"] and again.smtputf8
    assert sent.html == "<p>Größe</p>\n" and sent.text == "Größe\n"
    assert sent.attachments[0].content == "contenu é".encode()


def test_an_email_message_needs_a_sender_and_recipients() -> None:
    mail = EmailMessage()
    mail["Subject"] = "x"
    mail.set_content("x")
    with pytest.raises(InvalidMessage, match="no From header"):
        Mailer("memory://").render(mail)
    with pytest.raises(InvalidMessage, match="no recipient"):
        mailer().render(mail)
    mail["To"] = "not an address"
    with pytest.raises(InvalidAddress, match="^To"):
        mailer().render(mail)


def test_html_to_text_keeps_what_a_reader_needs() -> None:
    html = """<html><head><title>T</title><style>p {color: red}</style></head><body>
    <h1>Welcome,   Zoë &amp; co</h1><p>Line one<br>line two</p>
    <ul><li>first</li><li>second <a href="https://e.example/a">https://e.example/a</a></li></ul>
    <ol><li>one</li><li>two</li></ol>
    <table><tr><td>Name</td><td>Ada</td></tr><tr><td>Role</td><td>admin</td></tr></table>
    <p><a href="https://e.example/reset?t=1&amp;u=2">Reset</a> <img src="cid:x" alt="Logo"></p>
    <script>alert(1)</script><pre>  code
  kept</pre></body></html>"""
    assert html_to_text(html) == (
        "Welcome, Zoë & co\n\nLine one\nline two\n\n- first\n- second https://e.example/a\n\n"
        "1. one\n2. two\n\nName Ada\nRole admin\n\nReset (https://e.example/reset?t=1&u=2) "
        "Logo\n\n  code\n  kept\n"
    )
