"""Settings: typed, loaded explicitly from the environment, ``.env`` and ``bastion.toml``.

Precedence, highest first: keyword overrides > environment variables (``BASTION_<FIELD>``) >
``.env`` > ``[profile.<name>]`` in ``bastion.toml`` > top-level keys of ``bastion.toml`` >
class defaults. Settings are passed to ``App(settings=...)``; there is no global.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self

import msgspec

from bastion.exceptions import ConfigurationError

Profile = Literal["dev", "test", "prod"]
_PREFIX = "BASTION_"
_SECRET_HINT = (
    "set BASTION_SECRET_KEY to a random value of at least 32 characters, e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)


class Settings(msgspec.Struct, kw_only=True):
    """Framework settings; subclass to add your application's own typed fields."""

    profile: Profile = "dev"
    #: None means: on in ``dev``, off otherwise.
    debug: bool | None = None
    secret_key: str | None = None
    app_name: str = "bastion"
    max_body_size: int = 1024 * 1024
    #: More headers, or more header bytes, than this is a 431 (servers accept far more).
    max_header_count: int = 100
    max_header_bytes: int = 64 * 1024
    trailing_slash: Literal["redirect", "strict"] = "redirect"
    allowed_hosts: list[str] = msgspec.field(default_factory=lambda: ["*"])
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    docs_url: str | None = "/docs"
    openapi_url: str | None = "/openapi.json"

    def __post_init__(self) -> None:
        for name in ("max_body_size", "max_header_count", "max_header_bytes"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be a positive number")
        if not 1 <= self.port <= 65535:
            raise ConfigurationError(f"port {self.port} is out of range; use 1..65535")
        if self.debug is None:
            self.debug = self.profile == "dev"
        if self.profile == "prod":
            if not self.secret_key or len(self.secret_key) < 32:
                raise ConfigurationError(f"The prod profile needs a secret key: {_SECRET_HINT}")
            if self.debug:
                raise ConfigurationError(
                    "The prod profile cannot run with debug on (it would show tracebacks to "
                    "clients): unset BASTION_DEBUG or set it to false"
                )

    @classmethod
    def load(
        cls,
        *,
        profile: str | None = None,
        env_file: str | Path | None = ".env",
        toml_file: str | Path | None = "bastion.toml",
        environ: dict[str, str] | None = None,
        root: str | Path | None = None,
        **overrides: Any,
    ) -> Self:
        """Gather values from every source and validate them into settings."""
        base = Path(root) if root is not None else Path.cwd()
        env = dict(os.environ) if environ is None else dict(environ)
        dotenv = _read_dotenv(base / env_file) if env_file else {}
        fields = {f.name for f in msgspec.structs.fields(cls)}
        chosen = profile or env.get(_PREFIX + "PROFILE") or dotenv.get(_PREFIX + "PROFILE") or "dev"

        raw: dict[str, tuple[Any, str]] = {}
        if toml_file and (base / toml_file).is_file():
            raw.update(_read_toml(base / toml_file, chosen, fields))
        for source, values in ((".env", dotenv), ("environment", env)):
            for key, value in values.items():
                if key.startswith(_PREFIX) and key[len(_PREFIX) :].lower() in fields:
                    raw[key[len(_PREFIX) :].lower()] = (value, f"{key}={value!r} ({source})")
        for key, value in overrides.items():
            if key not in fields:
                raise ConfigurationError(
                    f"Unknown setting {key!r}; known: {', '.join(sorted(fields))}"
                )
            raw[key] = (value, f"{key}={value!r} (argument)")
        raw["profile"] = (chosen, f"profile {chosen!r}")

        values = {key: _convert(cls, key, value, where) for key, (value, where) in raw.items()}
        try:
            return msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigurationError(f"Invalid settings: {exc}") from None


def _convert(cls: type[Settings], key: str, value: Any, where: str) -> Any:
    """Coerce one raw value to its field type, naming the source when it does not fit."""
    field_type = next(f.type for f in msgspec.structs.fields(cls) if f.name == key)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") or (_is_list(field_type) and not stripped.startswith("[")):
            value = (
                msgspec.json.decode(stripped)
                if stripped.startswith("[")
                else [v.strip() for v in stripped.split(",") if v.strip()]
            )
        elif stripped.lower() in ("none", "null") and _accepts_none(field_type):
            value = None
    try:
        return msgspec.convert(value, field_type, strict=False)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigurationError(
            f"{where}: {exc}; set it to a valid {_describe(field_type)}"
        ) from None


def _is_list(tp: Any) -> bool:
    return getattr(tp, "__origin__", None) in (list, tuple, set)


def _accepts_none(tp: Any) -> bool:
    return type(None) in getattr(tp, "__args__", ())


def _describe(tp: Any) -> str:
    return {int: "whole number like 8000", bool: "boolean (true or false)", str: "string"}.get(
        tp, repr(tp)
    )


def _read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; ``#`` comments, ``export`` prefixes and quotes; no shell expansion."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def _read_toml(path: Path, profile: str, fields: set[str]) -> dict[str, tuple[Any, str]]:
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    profiles = data.pop("profile", {})
    result: dict[str, tuple[Any, str]] = {}
    for table, where in (
        (data, str(path)),
        (profiles.get(profile, {}), f"{path} [profile.{profile}]"),
    ):
        for key, value in table.items():
            if key not in fields:
                raise ConfigurationError(
                    f"{where}: unknown setting {key!r}; known settings: {', '.join(sorted(fields))}"
                )
            result[key] = (value, f"{key} in {where}")
    return result
