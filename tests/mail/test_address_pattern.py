"""The e-mail patterns the server checks (Python's re) read the same to the OpenAPI document's
readers (ECMA-262, here jsonschema_rs, schemathesis's validator): ``\\w``, ``\\s`` and ``$``
differ between the two, so a value one accepted and the other refused (a trailing newline
passed Python's ``$``; ``é@x.example`` failed ECMA's ASCII ``\\w``)."""

import re
import typing

import jsonschema_rs
import pytest

from bastion.auth import routes
from bastion.mail.address import EMAIL_PATTERN

AUTH_PATTERN = typing.get_args(routes.Email)[1].pattern
SAMPLES = [
    "ada@example.com",
    "zoë@bücher.example",
    "a@b.c\n",
    "a@b.c\r\n",
    "\na@b.c",
    "a b@c.d",
    "a\u0085b@c.d",
    "a\u00a0b@c.d",
    "a\ufeffb@c.d",
    "a\u001cb@c.d",
    "a_b@c.d",
    "a@b_c.d",
    "a@b",
    "@b.c",
]


@pytest.mark.parametrize("pattern", [EMAIL_PATTERN, AUTH_PATTERN], ids=["mail", "auth"])
def test_python_and_ecma_262_agree_on_every_sample(pattern):
    ecma = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    for sample in SAMPLES:
        assert bool(re.search(pattern, sample)) == ecma.is_valid(sample), repr(sample)


@pytest.mark.parametrize("pattern", [EMAIL_PATTERN, AUTH_PATTERN], ids=["mail", "auth"])
def test_a_trailing_newline_is_no_address(pattern):
    assert re.search(pattern, "ada@example.com")
    assert not re.search(pattern, "ada@example.com\n")
