"""The console transport prints mail for a person in a terminal: text parts decoded, so a
long link (a verification or reset link) is copied whole, not cut by quoted-printable."""

import asyncio
import email
import email.policy
import io

from bastion.mail import ConsoleTransport, Mailer, Message

LINK = "https://app.example/account/verify-email?token=" + "eyJhbGciOi.x-y_z" * 8


def printed(message: Message) -> str:
    stream = io.StringIO()
    mailer = Mailer(ConsoleTransport(stream), sender="team@example.com")
    asyncio.run(mailer.send(message))
    return stream.getvalue()


def test_a_long_link_is_printed_whole_in_both_parts() -> None:
    html = f'<p>Zoë, <a href="{LINK}">confirm</a></p>'
    output = printed(Message(to="zoe@example.com", subject="Confirm", html=html))
    assert f'href="{LINK}"' in output  # the HTML part, as written
    assert f"({LINK})" in output  # the text part made from it
    assert "=3D" not in output and "Zoë" in output
    assert "Content-Transfer-Encoding: 8bit" in output


def test_the_printed_message_still_parses_as_the_one_sent() -> None:
    message = Message(to="zoe@example.com", subject="Receipt", text=f"Thanks. {LINK}\n")
    message.attach("r.bin", b"\x00\x01\xff", "application/octet-stream")
    output = printed(message)
    body = output.split("-" * 72 + "\n")[2]
    parsed = email.message_from_string(body, policy=email.policy.default)
    text = parsed.get_body(("plain",))
    assert text is not None and text.get_content() == f"Thanks. {LINK}\n"
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_content() == b"\x00\x01\xff"  # binary parts stay base64
