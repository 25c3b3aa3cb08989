"""Each field kind: what it accepts, what it refuses (with which message), how it redisplays."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import pytest

from bastion.exceptions import ConfigurationError
from bastion.forms import (
    BooleanField,
    ChoiceField,
    DateField,
    DateTimeField,
    DecimalField,
    EmailField,
    Field,
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
)
from tests.forms._app import Plan


async def clean(field: Field[Any], *values: str) -> tuple[Any, list[str]]:
    """Clean ``values`` submitted under the field's name: (value, messages)."""

    class One(Form):
        f = field

    form = One({"f": list(values)})
    await form.validate()
    return form.data.get("f"), form.errors.get("f", [])


async def test_string_strips_and_checks_every_length_rule_at_once():
    field = StringField(min_length=5, max_length=6, pattern=r"[a-z]+")
    assert await clean(field, "  abcde ") == ("abcde", [])
    _, errors = await clean(field, "AB1")
    assert errors == ["Enter at least 5 characters.", "Enter a value in the expected format."]
    assert (await clean(field, "abcdefghij"))[1] == ["Enter at most 6 characters."]


async def test_required_field_left_blank_says_so_and_optional_one_is_none():
    assert (await clean(StringField(), "   "))[1] == ["This field is required."]
    assert (await clean(StringField()))[1] == ["This field is required."]
    assert await clean(StringField(required=False), "") == (None, [])


async def test_string_refuses_nul_and_takes_the_last_of_repeated_values():
    assert (await clean(StringField(), "a\x00b"))[1] == ["Enter text without NUL characters."]
    assert await clean(StringField(), "first", "last") == ("last", [])


async def test_text_and_hidden_are_strings():
    assert await clean(TextField(), "line 1\nline 2") == ("line 1\nline 2", [])
    assert await clean(HiddenField(), "x") == ("x", [])


async def test_password_keeps_its_spaces():
    assert await clean(PasswordField(), " secret ") == (" secret ", [])


@pytest.mark.parametrize("good", ["ann@example.com", "a.b+c@mail.example.co.uk"])
async def test_email_accepts_addresses(good):
    assert await clean(EmailField(), good) == (good, [])


@pytest.mark.parametrize("bad", ["ann", "ann@", "@example.com", "ann@example", "a b@example.com"])
async def test_email_refuses_what_is_not_an_address(bad):
    assert (await clean(EmailField(), bad))[1] == ["Enter a valid email address."]


async def test_url_needs_http_or_https_and_a_host():
    assert await clean(URLField(), "https://example.com/a") == ("https://example.com/a", [])
    for bad in ("javascript:alert(1)", "ftp://example.com", "https://", "example.com"):
        assert (await clean(URLField(), bad))[1] == [
            "Enter a valid URL starting with http:// or https://."
        ]


async def test_integer_converts_and_checks_its_range():
    field = IntegerField(min_value=1, max_value=10)
    assert await clean(field, " 7 ") == (7, [])
    assert (await clean(field, "0"))[1] == ["Enter a value greater than or equal to 1."]
    assert (await clean(field, "11"))[1] == ["Enter a value less than or equal to 10."]
    for bad in ("1.5", "seven", "9" * 5000, "١٢"):
        assert (await clean(field, bad))[1] == ["Enter a whole number."]


async def test_float_refuses_nan_infinity_and_text():
    assert await clean(FloatField(), "1.25") == (1.25, [])
    for bad in ("nan", "inf", "-Infinity", "abc", "1" * 200):
        assert (await clean(FloatField(), bad))[1] == ["Enter a number."]


async def test_decimal_checks_places_and_digits_like_a_numeric_column():
    field = DecimalField(max_digits=5, decimal_places=2)
    assert await clean(field, "123.45") == (decimal.Decimal("123.45"), [])
    assert (await clean(field, "1.234"))[1] == ["Enter at most 2 digits after the decimal point."]
    assert (await clean(field, "1234"))[1] == ["Enter at most 3 digits before the decimal point."]
    assert (await clean(field, "NaN"))[1] == ["Enter a number."]
    assert field.attrs["step"] == "0.01"


async def test_checkbox_absent_is_false_and_ticked_is_true():
    assert await clean(BooleanField()) == (False, [])
    assert await clean(BooleanField(), "on") == (True, [])
    assert await clean(BooleanField(), "false") == (False, [])
    assert (await clean(BooleanField(required=True)))[1] == ["Tick this box to continue."]


async def test_dates_times_and_their_bounds():
    day = DateField(min_value=datetime.date(2000, 1, 1))
    assert await clean(day, "2024-02-29") == (datetime.date(2024, 2, 29), [])
    assert (await clean(day, "2023-02-29"))[1] == ["Enter a valid date (YYYY-MM-DD)."]
    assert (await clean(day, "1999-12-31"))[1] == [
        "Enter a value greater than or equal to 2000-01-01."
    ]
    assert await clean(TimeField(), "07:30") == (datetime.time(7, 30), [])
    assert (await clean(TimeField(), "25:00"))[1] == ["Enter a valid time (HH:MM)."]


async def test_datetime_local_is_naive_unless_a_timezone_is_given():
    naive = DateTimeField()
    assert await clean(naive, "2024-05-01T09:15") == (datetime.datetime(2024, 5, 1, 9, 15), [])
    assert (await clean(naive, "2024-05-01T09:15+02:00"))[1] == [
        "Enter a date and time without a time zone."
    ]
    aware = DateTimeField(timezone=datetime.UTC)
    value, _ = await clean(aware, "2024-05-01T09:15")
    assert value == datetime.datetime(2024, 5, 1, 9, 15, tzinfo=datetime.UTC)
    shown = datetime.datetime(
        2024, 5, 1, 11, 15, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert aware.format(shown) == "2024-05-01T09:15"
    assert (await clean(naive, "tomorrow"))[1] == ["Enter a valid date and time."]


async def test_uuid_and_json():
    code = uuid.uuid4()
    assert await clean(UUIDField(), str(code)) == (code, [])
    assert (await clean(UUIDField(), "not-a-uuid"))[1] == ["Enter a valid UUID."]
    assert await clean(JSONField(), '{"a": [1, 2]}') == ({"a": [1, 2]}, [])
    assert (await clean(JSONField(), "{a: 1}"))[1] == ["Enter valid JSON."]
    assert (await clean(JSONField(), "[" * 100_000))[1] == ["Enter valid JSON."]
    assert JSONField().format({"a": 1}) == '{\n  "a": 1\n}'


async def test_choice_from_a_list_an_enum_and_an_async_loader():
    assert await clean(ChoiceField(choices=[("a", "A"), ("b", "B")]), "b") == ("b", [])
    assert await clean(ChoiceField(choices=Plan), "pro") == (Plan.PRO, [])
    assert (await clean(ChoiceField(choices=Plan), "gold"))[1] == [
        "Choose one of the options offered."
    ]
    assert (await clean(ChoiceField(choices=Plan), ""))[1] == ["Choose an option."]

    async def numbers(ctx):
        return [(n, str(n)) for n in range(3)]

    assert await clean(ChoiceField(choices=numbers), "2") == (2, [])


async def test_multiple_choice_keeps_every_value_and_names_unknown_ones():
    field = MultipleChoiceField(choices=[(1, "one"), (2, "two"), (3, "three")], required=False)
    assert await clean(field, "3", "1", "3") == ([3, 1], [])
    assert await clean(field) == ([], [])
    assert (await clean(field, "1", "9"))[1] == ["Choose among the options offered (9 is not one)."]
    required = MultipleChoiceField(choices=[(1, "one")])
    assert (await clean(required))[1] == ["Choose at least one option."]


async def test_validators_add_their_messages_to_the_fields_own():
    def even(value: int) -> None:
        if value % 2:
            raise Invalid("Enter an even number.")

    field = IntegerField(max_value=5, validators=[even])
    assert (await clean(field, "7"))[1] == [
        "Enter a value less than or equal to 5.",
        "Enter an even number.",
    ]


def test_a_field_named_like_a_form_attribute_fails_at_class_creation():
    with pytest.raises(ConfigurationError, match="errors: the name is taken"):

        class Bad(Form):
            errors = StringField()


async def test_validate_on_an_unbound_form_says_how_to_bind_it():
    class One(Form):
        f = StringField()

    with pytest.raises(ConfigurationError, match=r"One.bind\(request\)"):
        await One().validate()
