"""How a process consumes: ``ConsumerOptions``, their defaults, and the check that refuses
a bad one at start-up with the option's name and what it should be."""

from __future__ import annotations

import re
from typing import Any, TypedDict

from bastion.exceptions import ConfigurationError

_NAME = r"[A-Za-z0-9_-]{1,64}"


class ConsumerOptions(TypedDict, total=False):
    """How this process consumes; shared by ``MessagingPlugin`` and ``bastion worker``."""

    group: str  # the processes sharing the work: each event is handled once per group
    concurrency: int  # messages handled at once by this process
    redeliver_after: float  # seconds before an unacknowledged message goes to another member
    max_attempts: int  # deliveries of an event before it is dropped (handlers may override)
    retry_delay: float  # seconds before the first retry of a failed event; doubles, capped
    grace: float  # seconds running handlers get at stop before they are handed back
    max_size: int  # bytes a payload may have; bigger ones are refused (413)
    poll: float  # longest wait for messages in one fetch


DEFAULTS: ConsumerOptions = {
    "group": "default",
    "concurrency": 32,
    "redeliver_after": 30.0,
    "max_attempts": 5,
    "retry_delay": 1.0,
    "grace": 10.0,
    "max_size": 1024 * 1024,
    "poll": 1.0,
}


def consumer_options(given: dict[str, Any], where: str = "MessagingPlugin") -> ConsumerOptions:
    """``given`` over the defaults, or a ``ConfigurationError`` naming each bad option."""
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown option(s) {', '.join(unknown)}; the options are "
            + ", ".join(DEFAULTS)
        )
    options: Any = {**DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    problems = []
    if not isinstance(options["group"], str) or not re.fullmatch(_NAME, options["group"]):
        problems.append(f"group={options['group']!r} must be 1-64 letters, digits, '_' or '-'")
    for name in ("concurrency", "max_attempts", "max_size"):
        value = options[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{name}={value!r} must be an integer >= 1")
    for name in ("redeliver_after", "poll"):
        value = options[name]
        if not _number(value) or value <= 0:
            problems.append(f"{name}={value!r} must be a positive number of seconds")
    for name in ("retry_delay", "grace"):
        value = options[name]
        if not _number(value) or value < 0:
            problems.append(f"{name}={value!r} must be a number of seconds >= 0")
    if problems:
        raise ConfigurationError(f"{where}: " + "; ".join(problems))
    result: ConsumerOptions = options
    return result


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
