"""Settings: typed, loaded explicitly from the environment, ``.env`` and ``bastion.toml``.

Precedence, highest first: keyword overrides > environment variables (``BASTION_<FIELD>``) >
``.env`` > ``[profile.<name>]`` in ``bastion.toml`` > top-level keys of ``bastion.toml`` >
class defaults. Settings are passed to ``App(settings=...)``; there is no global. Every bad
value stops start-up with a sentence naming where it came from and what to write instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

import msgspec
import msgspec.inspect as mi

from bastion.exceptions import ConfigurationError

Profile = Literal["dev", "test", "prod"]
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
Positive = Annotated[int, msgspec.Meta(gt=0)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]

_PREFIX = "BASTION_"
_MIN_SECRET_LENGTH = 32
_SECRET_HINT = (
    "set BASTION_SECRET_KEY to a random value of at least 32 characters, e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)
# Values of fields with these words in their name never appear in error messages.
_SECRET_NAME = re.compile(r"secret|password|passwd|token|key|credential", re.I)


def is_secret_name(name: str) -> bool:
    """Whether a setting called ``name`` holds a secret (shown as ``<hidden>`` anywhere)."""
    return _SECRET_NAME.search(name) is not None


_BOOL_WORDS = {"yes": True, "on": True, "no": False, "off": False}


class Settings(msgspec.Struct, kw_only=True):
    """Framework settings; subclass to add your application's own typed fields.

    Build them with ``Settings.load()`` (reads the sources) or ``Settings(...)`` (values given
    here only); both validate every field, and ``debug`` is always a bool afterwards.
    """

    profile: Profile = "dev"
    #: None means: on in ``dev``, off otherwise.
    debug: bool | None = None
    secret_key: str | None = None
    app_name: str = "bastion"
    max_body_size: Positive = 1024 * 1024
    #: More headers, or more header bytes, than this is a 431 (servers accept far more).
    max_header_count: Positive = 100
    max_header_bytes: Positive = 64 * 1024
    trailing_slash: Literal["redirect", "strict"] = "redirect"
    allowed_hosts: list[str] = msgspec.field(default_factory=lambda: ["*"])
    host: str = "127.0.0.1"
    port: Port = 8000
    #: Processes for ``bastion serve``; None means one per CPU core.
    workers: Positive | None = None
    log_level: LogLevel = "info"
    docs_url: str | None = "/docs"
    openapi_url: str | None = "/openapi.json"
    #: For ``SQLAlchemyPlugin``; None means a SQLite file named after the app.
    database_url: str | None = None
    #: Connections each process keeps to a server database (PostgreSQL), a fixed-size pool:
    #: ``bastion serve --workers N`` opens N times as many. SQLite ignores it.
    database_pool_size: Positive = 10
    #: For ``JobsPlugin``: "memory", "database" or a redis:// URL; None means the database
    #: when ``SQLAlchemyPlugin`` is installed, else memory.
    jobs_backend: str | None = None
    #: Run a jobs worker inside every app process (small deployments); None means off.
    jobs_worker: bool | None = None
    #: For ``MessagingPlugin``: "memory", a nats:// or a redis:// URL; None means memory.
    messages_backend: str | None = None
    #: Run the message handlers inside every app process; None means only on memory.
    messages_consume: bool | None = None
    #: The consumer group of this app's handlers (each event is handled once per group).
    messages_group: str | None = None
    #: For ``MailPlugin``: smtp://, smtps://, console:// or memory://; None means console://
    #: in dev, memory:// in test, and refused in prod.
    mail_url: str | None = None
    #: The From address of mail that names none (``MailPlugin``).
    mail_from: str | None = None
    #: For ``SocialRoutes``: sign-in providers by name, each {"client_id", "client_secret"}
    #: (plus "issuer" for OpenID Connect providers other than github and google); JSON in
    #: BASTION_SOCIAL_CREDENTIALS.
    social_credentials: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    #: For ``PasskeyRoutes``: the WebAuthn relying party id, the site's domain (example.com).
    webauthn_rp_id: str | None = None
    #: For ``PasskeyRoutes``: the origins pages call WebAuthn from (https://example.com).
    webauthn_origins: list[str] = msgspec.field(default_factory=list)
    #: For ``I18nPlugin``: the locales the app offers (en, fr, pt_BR) and the one used when
    #: nothing else decides.
    locales: list[str] = msgspec.field(default_factory=lambda: ["en"])
    default_locale: str = "en"
    #: For ``I18nPlugin``: where a request's locale comes from, tried in this order (the URL
    #: prefix /fr/..., the ``locale`` cookie, the user's preference, Accept-Language).
    locale_from: list[Literal["prefix", "cookie", "user", "header"]] = msgspec.field(
        default_factory=lambda: ["prefix", "cookie", "user", "header"]
    )
    #: For ``I18nPlugin``: the time zone of users who have not chosen one (an IANA name).
    default_timezone: str = "UTC"
    #: For ``bastion.pagination``: items per page when a request names none, and the most
    #: it may ask for (``?size=``).
    page_size: Positive = 20
    max_page_size: Positive = 100
    #: For ``StoragePlugin``: file:///absolute/path or s3://bucket[/prefix]; None means a
    #: folder ``uploads`` beside the app in dev and test, and is refused in prod.
    storage_url: str | None = None
    #: For an s3:// ``storage_url``: the endpoint of an S3-compatible server (MinIO, R2...;
    #: None means AWS), its region and credentials (None: the environment's AWS_* ones).
    storage_endpoint: str | None = None
    storage_region: str | None = None
    storage_access_key_id: str | None = None
    storage_secret_access_key: str | None = None
    #: Largest file ``Storage.save`` accepts (bytes), and the types it accepts, checked
    #: against the file's first bytes (its magic number), not the name the client sent.
    storage_max_file_size: Positive = 10 * 1024 * 1024
    storage_allowed_types: list[str] = msgspec.field(
        default_factory=lambda: [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "application/pdf",
        ]
    )
    #: For ``bastion.services.grpc.GRPC``: the port of the gRPC server each app process
    #: starts beside HTTP, and its interface (None: the same as ``host``).
    grpc_port: Port = 50051
    grpc_host: str | None = None

    def __post_init__(self) -> None:
        cls = type(self)

        def where(name: str) -> str:
            return _show(name, f"{name}=", getattr(self, name), f"argument to {cls.__name__}")

        for field in msgspec.structs.fields(cls):
            _coerce(field, getattr(self, field.name), where(field.name), strict=True)
        _check_profile(self.profile, self.secret_key, self.debug, where)
        if self.debug is None:
            self.debug = self.profile == "dev"

    @classmethod
    def load(
        cls,
        *,
        profile: str | None = None,
        env_file: str | Path | None = ".env",
        toml_file: str | Path | None = "bastion.toml",
        environ: Mapping[str, str] | None = None,
        root: str | Path | None = None,
        **overrides: Any,
    ) -> Self:
        """Gather values from every source, lowest precedence first, and validate them.

        ``environ`` defaults to ``os.environ``; pass a dict to read nothing from the process.
        ``env_file`` and ``toml_file`` are relative to ``root`` (default: the current
        directory); a missing file is skipped, ``None`` skips the source.
        """
        base = Path(root) if root is not None else Path.cwd()
        env = os.environ if environ is None else environ
        fields = {field.name: field for field in msgspec.structs.fields(cls)}
        dotenv_path = base / env_file if env_file is not None else None
        dotenv = _read_dotenv(dotenv_path) if dotenv_path and dotenv_path.is_file() else {}

        # The profile picks the [profile.<name>] table, so it is settled before anything else.
        if profile is not None:
            chosen: Any = profile
            profile_from = _show("profile", "profile=", profile, f"argument to {cls.__name__}.load")
        elif _PREFIX + "PROFILE" in env:
            chosen = env[_PREFIX + "PROFILE"]
            profile_from = _show("profile", "BASTION_PROFILE=", chosen, "environment")
        elif _PREFIX + "PROFILE" in dotenv:
            chosen = dotenv[_PREFIX + "PROFILE"]
            profile_from = _show("profile", "BASTION_PROFILE=", chosen, str(dotenv_path))
        else:
            chosen, profile_from = "dev", "the default profile"
        chosen = _coerce(fields["profile"], _from_text(chosen, Profile), profile_from, strict=False)

        raw: dict[str, tuple[Any, str]] = {}
        toml_path = base / toml_file if toml_file is not None else None
        if toml_path is not None and toml_path.is_file():
            raw.update(_read_toml(toml_path, chosen, fields))
        for origin, source in ((str(dotenv_path), dotenv), ("environment", env)):
            for name in fields:
                key = _PREFIX + name.upper()
                if name != "profile" and key in source:
                    text = source[key]
                    raw[name] = (
                        _from_text(text, fields[name].type),
                        _show(name, f"{key}=", text, origin),
                    )
        for name, value in overrides.items():
            if name not in fields or name == "profile":
                raise ConfigurationError(
                    f"{cls.__name__}.load() got an unknown setting {name!r}{_suggest(name, fields)}"
                )
            raw[name] = (value, _show(name, f"{name}=", value, f"argument to {cls.__name__}.load"))

        values: dict[str, Any] = {"profile": chosen}
        sources: dict[str, str] = {"profile": profile_from}
        for name, (value, origin) in raw.items():
            values[name] = _coerce(fields[name], value, origin, strict=False)
            sources[name] = origin
        for name, field in fields.items():
            if field.required and name not in values:
                raise ConfigurationError(
                    f"{cls.__name__}.{name} has no value: set {_PREFIX}{name.upper()}, add "
                    f"`{name} = ...` to bastion.toml, or pass {name}=... to {cls.__name__}.load()"
                )
        _check_profile(
            chosen,
            values.get("secret_key", fields["secret_key"].default),
            values.get("debug", fields["debug"].default),
            lambda name: sources.get(name, f"the default {name}"),
        )
        return cls(**values)


def _check_profile(
    profile: str, secret_key: str | None, debug: bool | None, where: Callable[[str], str]
) -> None:
    """The prod profile signs with a real secret and never shows tracebacks."""
    if profile != "prod":
        return
    if not secret_key:
        raise ConfigurationError(f"The prod profile needs a secret key: {_SECRET_HINT}")
    if len(secret_key) < _MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"The prod profile needs a secret key: {_SECRET_HINT}; {where('secret_key')} has "
            f"only {len(secret_key)} characters"
        )
    if debug:
        raise ConfigurationError(
            f"The prod profile refuses debug mode, which shows tracebacks to anyone: "
            f"{where('debug')} turns it on; remove it or set it to false"
        )


def _coerce(field: msgspec.structs.FieldInfo, value: Any, where: str, *, strict: bool) -> Any:
    """One value converted to its field's type; the error names the source and the fix."""
    try:
        return msgspec.convert(value, field.type, strict=strict)
    except msgspec.ValidationError:
        expected, fix = _expectation(mi.type_info(field.type), field.default)
        raise ConfigurationError(f"{where}: expected {expected}; set it to {fix}") from None


def _from_text(text: str, tp: Any) -> Any:
    """An environment string shaped for ``msgspec.convert``: lists, JSON, none, yes/no."""
    info = _unwrap(mi.type_info(tp))
    stripped = text.strip()
    if isinstance(info, mi.UnionType):
        others = [t for t in info.types if not isinstance(t, mi.NoneType)]
        if len(others) < len(info.types) and stripped.lower() in ("", "none", "null"):
            return None
        info = _unwrap(others[0]) if len(others) == 1 else info
    if isinstance(info, mi.BoolType):
        return _BOOL_WORDS.get(stripped.lower(), stripped)
    if isinstance(info, mi.LiteralType) and stripped not in info.values:
        return stripped.lower()  # LOG_LEVEL=INFO means info; a miss is reported by _coerce
    if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        if not stripped.startswith("["):
            return [item.strip() for item in stripped.split(",") if item.strip()]
    elif not isinstance(info, mi.DictType | mi.StructType | mi.DataclassType | mi.TypedDictType):
        return text
    try:
        return msgspec.json.decode(stripped)
    except msgspec.DecodeError:
        return text  # _coerce then reports the type that was expected


def _unwrap(info: mi.Type) -> mi.Type:
    return info.type if isinstance(info, mi.Metadata) else info


def _expectation(info: mi.Type, default: Any) -> tuple[str, str]:
    """What a field accepts, said twice: as a noun, and as the fix to write."""
    info = _unwrap(info)
    if isinstance(info, mi.UnionType):
        others = [t for t in info.types if not isinstance(t, mi.NoneType)]
        if len(others) == 1:
            expected, fix = _expectation(others[0], default)
            return f"{expected}, or none", f"{fix} (or none)"
        return "one of " + " | ".join(_expectation(t, None)[0] for t in info.types), "one of them"
    if isinstance(info, mi.IntType):
        example = default if isinstance(default, int) and not isinstance(default, bool) else 1
        return f"an integer{_bounds(info)}", f"a whole number like {example}"
    if isinstance(info, mi.FloatType):
        return f"a number{_bounds(info)}", "a number like 1.5"
    if isinstance(info, mi.BoolType):
        return "true or false", "true or false"
    if isinstance(info, mi.StrType):
        return "a string", "some text"
    if isinstance(info, mi.LiteralType):
        choices = ", ".join(repr(v) for v in info.values)
        return f"one of {choices}", "one of those"
    if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return "a list", 'comma-separated values like a,b or a JSON array like ["a", "b"]'
    if isinstance(info, mi.DictType | mi.StructType | mi.DataclassType | mi.TypedDictType):
        return "a table of values", 'a JSON object like {"name": "value"} (a table in TOML)'
    name = getattr(getattr(info, "cls", None), "__name__", type(info).__name__)
    return f"a value of type {name}", f"a valid {name}"


def _bounds(info: mi.IntType | mi.FloatType) -> str:
    if info.ge is not None and info.le is not None:
        return f" from {info.ge} to {info.le}"
    parts = [
        f"{words} {bound}"
        for words, bound in (
            ("greater than", info.gt),
            ("at least", info.ge),
            ("less than", info.lt),
            ("at most", info.le),
        )
        if bound is not None
    ]
    return " " + " and ".join(parts) if parts else ""


def _show(name: str, label: str, value: Any, origin: str) -> str:
    """``BASTION_PORT='abc' (environment)``, with values of secret-looking fields hidden."""
    shown = "<hidden>" if is_secret_name(name) else repr(value)
    return f"{label}{shown} ({origin})"


def _suggest(name: str, fields: Mapping[str, Any]) -> str:
    """A did-you-mean for a typo, then the full list (``profile`` is chosen elsewhere)."""
    import difflib  # only an error needs it

    known = [field for field in fields if field != "profile"]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return f"{hint} Known settings: {', '.join(sorted(known))}"


def _read_dotenv(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=VALUE`` lines, ``#`` comments, ``export``, quotes.

    Single quotes are literal; double quotes understand ``\\n \\t \\" \\\\`` and may span
    lines. Nothing is expanded (``$HOME`` stays ``$HOME``): a ``.env`` is data, not a script.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} cannot be read: {exc}") from None
    values: dict[str, str] = {}
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export") and line[6:7].isspace():
            line = line[6:].lstrip()
        key, sep, rest = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
            raise ConfigurationError(
                f"{path}:{number}: expected KEY=VALUE, got {line!r}; write one NAME=value per line"
            )
        rest = rest.strip()
        if rest[:1] in ("'", '"'):
            # A quoted value may run over following lines until its closing quote.
            while (parsed := _quoted(rest)) is None and index < len(lines):
                rest, index = rest + "\n" + lines[index], index + 1
            if parsed is None:
                raise ConfigurationError(
                    f"{path}:{number}: the value of {key} opens a {rest[0]} quote that never "
                    "closes; add the closing quote"
                )
            value, tail = parsed
            if tail.strip() and not tail.strip().startswith("#"):
                raise ConfigurationError(
                    f"{path}:{number}: unexpected text after the quoted value of {key}: "
                    f"{tail.strip()!r}; put comments after a #"
                )
        else:
            value = re.split(r"\s#", rest, maxsplit=1)[0].rstrip()
        values[key] = value
    return values


def _quoted(text: str) -> tuple[str, str] | None:
    """The value inside the leading quote and the text after it; None if it never closes."""
    quote, i = text[0], 1
    out: list[str] = []
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(out), text[i + 1 :]
        if quote == '"' and char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(escapes.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return None


def _read_toml(path: Path, profile: str, fields: Mapping[str, Any]) -> dict[str, tuple[Any, str]]:
    """Top-level keys, then ``[profile.<profile>]`` over them; unknown keys are typos."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}; fix the file") from None
    profiles = data.pop("profile", {})
    if not isinstance(profiles, dict):
        raise ConfigurationError(
            f"{path}: `profile = {profiles!r}` cannot choose the profile; pass "
            "Settings.load(profile=...) or set BASTION_PROFILE, and put per-profile values "
            "in [profile.dev], [profile.test] or [profile.prod] tables"
        )
    for name, table in profiles.items():
        if name not in get_args(Profile) or not isinstance(table, dict):
            raise ConfigurationError(
                f"{path}: [profile.{name}] is not a profile table; use [profile.dev], "
                "[profile.test] or [profile.prod]"
            )
    result: dict[str, tuple[Any, str]] = {}
    for table, origin in (
        (data, str(path)),
        (profiles.get(profile, {}), f"{path} [profile.{profile}]"),
    ):
        for key, value in table.items():
            if key not in fields or key == "profile":
                raise ConfigurationError(
                    f"{origin}: unknown setting {key!r}{_suggest(key, fields)}"
                )
            result[key] = (value, _show(key, f"{key} = ", value, origin))
    return result
