"""Binding request bodies: urlencoded and multipart, files, multi-values, checkboxes; a bad
form answers the page again (422) with every message and the values typed; bad bodies 4xx."""

from __future__ import annotations

import re
from html import unescape

import pytest

from bastion import App, Request, Settings
from bastion.forms import Form, MultipleChoiceField, StringField
from bastion.testing import TestClient
from tests.forms._app import BASE, VALID, signup_app

BROWSER = {"accept": "text/html"}


@pytest.fixture
def client() -> TestClient:
    return TestClient(signup_app(csrf=False), base_url=BASE)


def field_html(page: str, name: str) -> str:
    """The markup of one field: from its wrapper to the next field's (or the buttons)."""
    starts = [
        m.start() for m in re.finditer(r'<(?:div|fieldset) class="bf-(?:field|actions)\b', page)
    ]
    for start, end in zip(starts, starts[1:], strict=False):
        if f'name="{name}"' in page[start:end]:
            return page[start:end]
    raise AssertionError(f"no field {name} in the page")


def test_valid_urlencoded_form_gives_typed_data(client):
    response = client.post(
        "/signup",
        data={
            **VALID,
            "price": "12.50",
            "birthday": "1990-04-01",
            "meeting": "2030-01-02T03:04",
            "alarm": "06:45",
            "ref": "12345678-1234-5678-1234-567812345678",
            "settings": '{"theme": "dark"}',
            "colour": "blue",
            "newsletter": "on",
            "height": "1.8",
        },
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["age"] == 30 and data["height"] == 1.8 and data["price"] == "12.50"
    assert data["newsletter"] is True and data["terms"] is True
    assert data["birthday"] == "1990-04-01" and data["meeting"] == "2030-01-02 03:04:00"
    assert data["alarm"] == "06:45:00" and data["settings"] == {"theme": "dark"}
    assert data["plan"] == "Plan.FREE" and data["colour"] == "blue"


def test_unticked_checkbox_sends_nothing_and_reads_false(client):
    data = client.post("/signup", data=VALID).json()
    assert data["newsletter"] is False


def test_multi_value_fields_keep_every_value_in_order(client):
    data = client.post(
        "/signup", data={**VALID, "tags": ["js", "py"], "toppings": ["2", "1"]}
    ).json()
    assert data["tags"] == ["js", "py"]
    assert data["toppings"] == [2, 1]


def test_multipart_form_with_files(client):
    response = client.post(
        "/signup",
        data={**VALID, "tags": ["go", "py"]},
        files=[
            ("avatar", ("me.png", b"PNGDATA", "image/png")),
            ("attachments", ("a.txt", b"a", "text/plain")),
            ("attachments", ("b.txt", b"b", "text/plain")),
        ],
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["avatar"] == ["me.png", "PNGDATA"]
    assert data["attachments"] == ["a.txt", "b.txt"]
    assert data["tags"] == ["go", "py"]


def test_file_input_left_empty_is_no_file(client):
    response = client.post(
        "/signup", data=VALID, files={"avatar": ("", b"", "application/octet-stream")}
    )
    assert response.json()["avatar"] is None


def test_file_of_the_wrong_type_or_size_is_refused_with_both_messages(client):
    response = client.post(
        "/signup",
        data=VALID,
        files={"avatar": ("big.exe", b"x" * 2000, "application/x-msdownload")},
        headers=BROWSER,
    )
    assert response.status_code == 422
    html = unescape(field_html(response.text, "avatar"))
    assert "big.exe is too large (2000 bytes); the limit is 1000 bytes." in html
    assert "big.exe is not an accepted file type (image/*)." in html


def test_bad_form_answers_the_page_with_every_error_at_once(client):
    response = client.post(
        "/signup",
        data={
            "name": "a",
            "email": "nope",
            "password": "short",
            "age": "7",
            "website": "ftp://x",
            "price": "1.999",
            "birthday": "1990-02-30",
            "ref": "zzz",
            "settings": "{",
            "plan": "gold",
            "colour": "green",
            "tags": ["py", "rust"],
        },
        headers=BROWSER,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = unescape(response.text)
    expected = {
        "name": "Enter at least 2 characters.",
        "email": "Enter a valid email address.",
        "password": "Enter at least 8 characters.",
        "age": "Enter a value greater than or equal to 13.",
        "website": "Enter a valid URL starting with http:// or https://.",
        "price": "Enter at most 2 digits after the decimal point.",
        "birthday": "Enter a valid date (YYYY-MM-DD).",
        "ref": "Enter a valid UUID.",
        "settings": "Enter valid JSON.",
        "plan": "Choose one of the options offered.",
        "colour": "Choose one of the options offered.",
        "tags": "Choose among the options offered (rust is not one).",
        "terms": "Tick this box to continue.",
    }
    for name, message in expected.items():
        html = unescape(field_html(response.text, name))
        assert "bf-invalid" in html, name
        assert f"<li>{message}</li>" in html, name
        assert f'<a href="#id_{name}">' in page  # linked from the summary at the top
    assert page.count("<li>") == 2 * len(expected)  # each once by its field, once in the summary


def test_submitted_values_are_shown_again_but_never_the_password(client):
    response = client.post(
        "/signup",
        data={
            "name": "x",
            "email": 'ann@"example',
            "password": "secret-value",
            "bio": "line one\nline <two>",
            "age": "abc",
            "newsletter": "on",
            "plan": "pro",
            "colour": "blue",
            "tags": ["js", "go"],
            "toppings": ["2"],
            "birthday": "2001-09-11",
            "source": "ad",
        },
        headers=BROWSER,
    )
    assert response.status_code == 422
    page = response.text
    assert 'name="name" value="x"' in page
    assert 'name="email" value="ann@&#34;example"' in page  # escaped, still the same text
    assert "secret-value" not in page
    assert ">\nline one\nline &lt;two&gt;</textarea>" in page
    assert 'name="age" value="abc"' in page  # what was typed, not a guess
    assert 'name="newsletter" value="on" checked' in page
    assert 'name="terms" value="on" aria-invalid' in page  # not ticked: not checked
    assert '<option value="pro" selected>' in page
    assert 'name="colour" value="blue" id="id_colour-2" checked' in page
    assert '<option value="js" selected>' in page and '<option value="go" selected>' in page
    assert '<option value="py">' in page
    assert 'name="toppings" value="2" id="id_toppings-2" checked' in page
    assert 'name="toppings" value="1" id="id_toppings-1">' in page
    assert 'name="birthday" value="2001-09-11"' in page
    assert 'name="source" value="ad"' in page


def test_cross_field_rules_report_next_to_a_field_and_for_the_whole_form(client):
    response = client.post(
        "/signup",
        data={**VALID, "name": "samepass1", "password": "samepass1", "plan": "pro"},
        headers=BROWSER,
    )
    assert response.status_code == 422
    assert "<li>Choose a password unlike your name.</li>" in field_html(response.text, "password")
    assert "<li>Pro accounts need a website.</li>" in response.text


def test_blank_form_shows_initial_values(client):
    page = client.get("/signup").text
    assert 'name="source" value="home"' in page
    assert '<option value="go" selected>' in page
    assert 'enctype="multipart/form-data"' in page


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"name=%ff", "application/x-www-form-urlencoded", 400),
        (
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv',
            "multipart/form-data; boundary=b",
            400,
        ),
        (b"--b\r\n\r\nv\r\n--b--\r\n", "multipart/form-data; boundary=b", 400),
        (b"x", "multipart/form-data", 400),
        (b'{"name": "Ann"}', "application/json", 415),
        (b"a=" + b"x" * 2_000_000, "application/x-www-form-urlencoded", 413),
        (b"&".join(b"f%d=1" % i for i in range(1100)), "application/x-www-form-urlencoded", 413),
    ],
    ids=[
        "bad-utf8",
        "unterminated",
        "no-disposition",
        "no-boundary",
        "json",
        "too-large",
        "too-many",
    ],
)
def test_unreadable_bodies_are_4xx_problems_never_500(client, body, content_type, status):
    response = client.post(
        "/signup", content=body, headers={"content-type": content_type, **BROWSER}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_text_field_given_a_file_is_a_field_error_not_a_crash(client):
    response = client.post(
        "/signup", data={**VALID}, files={"name": ("n.txt", b"Ann", "text/plain")}, headers=BROWSER
    )
    assert response.status_code == 422
    assert "<li>Expected text, not a file.</li>" in field_html(response.text, "name")


def test_file_field_sent_urlencoded_says_to_use_multipart(client):
    response = client.post("/signup", data={**VALID, "avatar": "me.png"}, headers=BROWSER)
    assert response.status_code == 422
    assert "Send the form as multipart/form-data to upload a file." in response.text


def test_bound_form_reads_like_a_dict_of_bound_fields_and_converts_to_a_struct():
    import msgspec

    class Contact(msgspec.Struct):
        email: str
        name: str | None = None

    class ContactForm(Form):
        email = StringField()
        name = StringField(required=False)

    app = App(settings=Settings(profile="test"))

    @app.post("/contact")
    async def contact(request: Request) -> dict[str, object]:
        form = await ContactForm.bind(request)
        contact = form.to(Contact)
        return {"email": contact.email, "fields": [f.name for f in form], "valid": form.is_valid}

    response = TestClient(app).post("/contact", data={"email": "a@b.c"})
    assert response.json() == {"email": "a@b.c", "fields": ["email", "name"], "valid": True}


def test_a_get_form_binds_to_the_query_string():
    class Search(Form):
        q = StringField(max_length=5)
        tags = MultipleChoiceField(choices=[("a", "A"), ("b", "B")], required=False)

    app = App(settings=Settings(profile="test"))

    @app.get("/search")
    async def search(request: Request) -> dict[str, object]:
        form = await Search.bind(request)
        return {"data": form.data, "errors": form.errors}

    client = TestClient(app)
    assert client.get("/search?q=hi&tags=b&tags=a").json() == {
        "data": {"q": "hi", "tags": ["b", "a"]},
        "errors": {},
    }
    assert client.get("/search?q=toolong").json()["errors"] == {
        "q": ["Enter at most 5 characters."]
    }
