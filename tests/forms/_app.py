"""A sign-up page with every kind of field, shared by the form tests."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import jinja2

from bastion import App, Request, Settings
from bastion.forms import (
    BooleanField,
    ChoiceField,
    DateField,
    DateTimeField,
    DecimalField,
    EmailField,
    FileField,
    FloatField,
    Form,
    HiddenField,
    IntegerField,
    Invalid,
    JSONField,
    MultipleChoiceField,
    PasswordField,
    StringField,
    TextField,
    TimeField,
    URLField,
    UUIDField,
    install_forms,
)
from bastion.i18n import lazy_gettext
from bastion.security import SecurityPlugin
from bastion.templates import Templates

SECRET = "s" * 40
BASE = "https://testserver"
PAGE = """{% import "forms/macros.html" as forms %}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="color-scheme" content="light dark"><title>{{ _("Sign up") }}</title>
{{ forms_stylesheet() }}</head><body><main><h1>{{ _("Sign up") }}</h1>
{{ forms.form(form, action="/signup", submit=_("Sign up")) }}
</main></body></html>"""


class Plan(enum.Enum):
    FREE = "free"
    PRO = "pro"


def no_admin(value: str) -> None:
    if value.lower() == "admin":
        raise Invalid(lazy_gettext("This name is reserved."))


class SignupForm(Form):
    name = StringField(lazy_gettext("Name"), min_length=2, max_length=20, validators=[no_admin])
    bio = TextField(lazy_gettext("About you"), required=False, help=lazy_gettext("A line or two."))
    email = EmailField(lazy_gettext("Email"))
    website = URLField(lazy_gettext("Website"), required=False)
    password = PasswordField(lazy_gettext("Password"), min_length=8)
    age = IntegerField(lazy_gettext("Age"), min_value=13, max_value=130)
    height = FloatField(lazy_gettext("Height"), required=False)
    price = DecimalField(lazy_gettext("Budget"), max_digits=6, decimal_places=2, required=False)
    newsletter = BooleanField(lazy_gettext("Send me the newsletter"))
    terms = BooleanField(lazy_gettext("I accept the terms"), required=True)
    birthday = DateField(lazy_gettext("Birthday"), required=False)
    meeting = DateTimeField(lazy_gettext("First call"), required=False)
    alarm = TimeField(lazy_gettext("Wake-up time"), required=False)
    ref = UUIDField(lazy_gettext("Referral code"), required=False)
    settings = JSONField(lazy_gettext("Settings"), required=False)
    plan = ChoiceField(lazy_gettext("Plan"), choices=Plan)
    colour = ChoiceField(
        lazy_gettext("Colour"),
        choices=[("red", lazy_gettext("Red")), ("blue", lazy_gettext("Blue"))],
        widget="radio",
        required=False,
    )
    tags = MultipleChoiceField(
        lazy_gettext("Tags"),
        choices=[("py", "Python"), ("js", "JavaScript"), ("go", "Go")],
        required=False,
    )
    toppings = MultipleChoiceField(
        lazy_gettext("Toppings"),
        choices=[(1, "Cheese"), (2, "Ham")],
        widget="checkboxes",
        required=False,
    )
    avatar = FileField(lazy_gettext("Avatar"), accept=["image/*"], max_size=1000, required=False)
    attachments = FileField(lazy_gettext("Attachments"), many=True, required=False)
    source = HiddenField(required=False)

    async def check(self) -> None:
        if self.data.get("name") and self.data.get("name") == self.data.get("password"):
            self.add_error("password", lazy_gettext("Choose a password unlike your name."))
        if self.data.get("plan") is Plan.PRO and not self.data.get("website"):
            self.add_error(None, lazy_gettext("Pro accounts need a website."))


VALID = {
    "name": "Ann",
    "email": "ann@example.com",
    "password": "correct horse",
    "age": "30",
    "terms": "on",
    "plan": "free",
}


def templates() -> Templates:
    env = jinja2.Environment(autoescape=True, loader=jinja2.DictLoader({"signup.html": PAGE}))
    found = Templates(env=env)
    install_forms(found)
    return found


def signup_app(*, extra: Sequence[Any] = (), settings: Any = None, **plugin: Any) -> App:
    """GET/POST /signup behind SecurityPlugin (CSRF on): the page again with 422 when bad.
    ``extra`` plugins go first (I18nPlugin), with ``settings`` (a dict) for them."""
    app = App(
        settings=Settings(profile="test", secret_key=SECRET, **(settings or {})),
        plugins=[*extra, SecurityPlugin(**plugin)],
    )
    pages = templates()

    @app.get("/signup")
    async def show(request: Request) -> Any:
        form = await SignupForm.blank(request, initial={"source": "home", "tags": ["go"]})
        return pages.render(request, "signup.html", {"form": form})

    @app.post("/signup")
    async def submit(request: Request) -> Any:
        form = await SignupForm.bind(request)
        if not form.is_valid:
            return pages.render(
                request, "signup.html", {"form": form}, status_code=form.status_code
            )
        data = dict(form.data)
        for key in ("price", "birthday", "meeting", "alarm", "ref", "plan"):
            if data[key] is not None:
                data[key] = str(data[key])
        if data["avatar"] is not None:
            data["avatar"] = [data["avatar"].filename, (await data["avatar"].read()).decode()]
        data["attachments"] = [a.filename for a in data["attachments"]]
        return data

    return app
