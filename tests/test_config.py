from pathlib import Path

import pytest

from bastion import ConfigurationError, Settings

KEY = "k" * 40


def load(tmp_path: Path, environ: dict[str, str] | None = None, **kwargs: object) -> Settings:
    """Settings read from tmp_path only, never from the real environment or working dir."""
    return Settings.load(environ=environ or {}, root=tmp_path, **kwargs)


def write(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)


# --- defaults and profiles ---------------------------------------------------------------


def test_defaults_are_dev_with_debug_on(tmp_path: Path):
    settings = load(tmp_path)
    assert settings.profile == "dev"
    assert settings.debug is True
    assert settings.max_body_size == 1024 * 1024
    assert (settings.host, settings.port, settings.allowed_hosts) == ("127.0.0.1", 8000, ["*"])


def test_debug_defaults_off_outside_dev(tmp_path: Path):
    assert load(tmp_path, profile="test").debug is False
    assert load(tmp_path, profile="prod", secret_key=KEY).debug is False
    assert Settings(profile="test").debug is False


def test_profile_comes_from_argument_then_environment_then_dotenv(tmp_path: Path):
    write(tmp_path, ".env", "BASTION_PROFILE=test\n")
    assert load(tmp_path).profile == "test"
    environ = {"BASTION_PROFILE": "prod", "BASTION_SECRET_KEY": KEY}
    assert load(tmp_path, environ).profile == "prod"
    assert load(tmp_path, environ, profile="dev").profile == "dev"


def test_unknown_profile_is_refused(tmp_path: Path):
    with pytest.raises(ConfigurationError, match=r"BASTION_PROFILE='staging' \(environment\)"):
        load(tmp_path, {"BASTION_PROFILE": "staging"})


# --- precedence --------------------------------------------------------------------------


def test_each_source_overrides_the_one_below(tmp_path: Path):
    write(
        tmp_path,
        "bastion.toml",
        'app_name = "toml"\nhost = "toml"\nlog_level = "warning"\nworkers = 2\nport = 8001\n'
        '[profile.dev]\napp_name = "profile"\nhost = "profile"\nlog_level = "error"\nworkers = 3\n',
    )
    write(tmp_path, ".env", "BASTION_HOST=dotenv\nBASTION_LOG_LEVEL=debug\nBASTION_WORKERS=4\n")
    environ = {"BASTION_LOG_LEVEL": "trace", "BASTION_WORKERS": "5"}
    settings = load(tmp_path, environ, workers=6)
    assert settings.port == 8001  # toml top level over the class default
    assert settings.app_name == "profile"  # [profile.dev] over the top level
    assert settings.host == "dotenv"  # .env over bastion.toml
    assert settings.log_level == "trace"  # environment over .env
    assert settings.workers == 6  # keyword override over everything
    assert settings.max_body_size == 1024 * 1024  # class default when nobody sets it


def test_only_the_chosen_profile_table_applies(tmp_path: Path):
    write(tmp_path, "bastion.toml", "port = 8100\n[profile.test]\nport = 8200\n")
    assert load(tmp_path).port == 8100
    assert load(tmp_path, profile="test").port == 8200


def test_files_resolve_against_root_and_can_be_turned_off(tmp_path: Path):
    write(tmp_path, ".env", "BASTION_PORT=7000\n")
    write(tmp_path, "other.toml", "port = 7100\n")
    assert load(tmp_path).port == 7000
    assert load(tmp_path, env_file=None).port == 8000
    assert load(tmp_path, env_file=None, toml_file="other.toml").port == 7100


# --- typed conversion --------------------------------------------------------------------


def test_environment_strings_become_typed_values(tmp_path: Path):
    settings = load(
        tmp_path,
        {
            "BASTION_PORT": "9000",
            "BASTION_DEBUG": "off",
            "BASTION_ALLOWED_HOSTS": "a.com, b.com",
            "BASTION_LOG_LEVEL": "WARNING",
            "BASTION_DOCS_URL": "none",
            "BASTION_OPENAPI_URL": "",
        },
    )
    assert settings.port == 9000
    assert settings.debug is False
    assert settings.allowed_hosts == ["a.com", "b.com"]
    assert settings.log_level == "warning"
    assert settings.docs_url is None
    assert settings.openapi_url is None


def test_list_from_json_array(tmp_path: Path):
    settings = load(tmp_path, {"BASTION_ALLOWED_HOSTS": '["x.com", "y.com,z"]'})
    assert settings.allowed_hosts == ["x.com", "y.com,z"]


def test_unknown_bastion_environment_variables_are_ignored(tmp_path: Path):
    settings = load(tmp_path, {"BASTION_NOT_A_SETTING": "1", "BASTION_port": "1"})
    assert settings.port == 8000


# --- .env parsing ------------------------------------------------------------------------


def test_dotenv_syntax(tmp_path: Path):
    write(
        tmp_path,
        ".env",
        "# a comment\n\n"
        "export BASTION_APP_NAME='shop $HOME # not a comment'\n"
        "BASTION_HOST=0.0.0.0 # trailing comment\n"
        'BASTION_SECRET_KEY="line one\\nline \\"two\\"" # comment\n'
        "BASTION_LOG_LEVEL = debug\n"
        'OTHER="spans\nlines"\n'
        "BASTION_DOCS_URL=/d#ocs\n",
    )
    settings = load(tmp_path)
    assert settings.app_name == "shop $HOME # not a comment"
    assert settings.host == "0.0.0.0"
    assert settings.secret_key == 'line one\nline "two"'
    assert settings.log_level == "debug"
    assert settings.docs_url == "/d#ocs"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("JUSTAWORD\n", "expected KEY=VALUE"),
        ("BAD KEY=1\n", "expected KEY=VALUE"),
        ("BASTION_HOST='open\n", "never closes"),
        ("BASTION_HOST='a' b\n", "unexpected text"),
    ],
)
def test_malformed_dotenv_names_the_line(tmp_path: Path, text: str, reason: str):
    write(tmp_path, ".env", "# first line\n" + text)
    with pytest.raises(ConfigurationError, match=rf"\.env:2: .*{reason}"):
        load(tmp_path)


# --- bastion.toml ------------------------------------------------------------------------


def test_unknown_toml_key_is_a_typo_error(tmp_path: Path):
    write(tmp_path, "bastion.toml", "[profile.dev]\nprot = 8000\n")
    with pytest.raises(ConfigurationError) as info:
        load(tmp_path)
    message = str(info.value)
    assert "[profile.dev]: unknown setting 'prot'; did you mean 'port'?" in message
    assert "Known settings: allowed_hosts, app_name," in message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("port = \n", "not valid TOML"),
        ('profile = "prod"\n', "cannot choose the profile"),
        ("[profile.staging]\nport = 1\n", r"\[profile.staging\] is not a profile table"),
    ],
)
def test_bad_toml_is_refused(tmp_path: Path, text: str, reason: str):
    write(tmp_path, "bastion.toml", text)
    with pytest.raises(ConfigurationError, match=reason):
        load(tmp_path)


def test_toml_values_are_validated_with_their_place(tmp_path: Path):
    write(tmp_path, "bastion.toml", '[profile.test]\nallowed_hosts = "a.com"\n')
    with pytest.raises(
        ConfigurationError,
        match=r"allowed_hosts = 'a.com' \(.*bastion\.toml "
        r"\[profile\.test\]\): expected a list",
    ):
        load(tmp_path, profile="test")


# --- errors ------------------------------------------------------------------------------


def test_bad_value_names_source_and_fix(tmp_path: Path):
    with pytest.raises(ConfigurationError) as info:
        load(tmp_path, {"BASTION_PORT": "abc"})
    assert str(info.value) == (
        "BASTION_PORT='abc' (environment): expected an integer from 1 to 65535; "
        "set it to a whole number like 8000"
    )


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("BASTION_PORT", "70000", "from 1 to 65535"),
        ("BASTION_MAX_BODY_SIZE", "0", "greater than 0"),
        ("BASTION_WORKERS", "-1", "greater than 0"),
        ("BASTION_DEBUG", "maybe", "true or false"),
        ("BASTION_TRAILING_SLASH", "sometimes", "one of 'redirect', 'strict'"),
        ("BASTION_LOG_LEVEL", "loud", "one of 'critical'"),
    ],
)
def test_out_of_range_values_are_refused(tmp_path: Path, variable: str, value: str, reason: str):
    with pytest.raises(
        ConfigurationError, match=rf"{variable}='{value}' \(environment\).*{reason}"
    ):
        load(tmp_path, {variable: value})


def test_dotenv_errors_name_the_file(tmp_path: Path):
    write(tmp_path, ".env", "BASTION_PORT=eighty\n")
    with pytest.raises(ConfigurationError, match=rf"BASTION_PORT='eighty' \({tmp_path}/\.env\)"):
        load(tmp_path)


def test_unknown_override_suggests_the_right_name(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="unknown setting 'prot'; did you mean 'port'"):
        load(tmp_path, prot=1)


def test_direct_construction_is_validated_too():
    with pytest.raises(ConfigurationError, match=r"port=0 \(argument to Settings\)"):
        Settings(port=0)
    with pytest.raises(ConfigurationError, match="expected an integer"):
        Settings(workers="2")  # type: ignore[arg-type]


# --- prod rules --------------------------------------------------------------------------


def test_prod_needs_a_secret_key(tmp_path: Path):
    with pytest.raises(ConfigurationError) as info:
        load(tmp_path, profile="prod")
    assert str(info.value) == (
        "The prod profile needs a secret key: set BASTION_SECRET_KEY to a random value of at "
        "least 32 characters, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
    )


def test_prod_refuses_a_short_key_without_printing_it(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="has only 11 characters") as info:
        load(tmp_path, {"BASTION_SECRET_KEY": "hunter2-abc"}, profile="prod")
    assert "hunter2" not in str(info.value)
    assert "BASTION_SECRET_KEY=<hidden> (environment)" in str(info.value)


def test_prod_refuses_debug(tmp_path: Path):
    environ = {"BASTION_SECRET_KEY": KEY, "BASTION_DEBUG": "1"}
    with pytest.raises(ConfigurationError, match=r"refuses debug mode.*BASTION_DEBUG='1'"):
        load(tmp_path, environ, profile="prod")
    with pytest.raises(ConfigurationError, match="refuses debug mode"):
        Settings(profile="prod", secret_key=KEY, debug=True)


# --- subclassing -------------------------------------------------------------------------


def test_subclass_adds_typed_fields_loaded_from_every_source(tmp_path: Path):
    class MySettings(Settings):
        database_url: str = "sqlite+aiosqlite:///./app.db"
        stripe_key: str = ""
        pool_size: int = 5

    write(tmp_path, "bastion.toml", 'database_url = "postgresql+asyncpg://db/shop"\n')
    settings = MySettings.load(environ={"BASTION_POOL_SIZE": "12"}, root=tmp_path)
    assert isinstance(settings, MySettings)
    assert settings.pool_size == 12
    assert settings.database_url == "postgresql+asyncpg://db/shop"
    assert settings.stripe_key == ""
    with pytest.raises(ConfigurationError, match=r"BASTION_POOL_SIZE='many'.*like 5"):
        MySettings.load(environ={"BASTION_POOL_SIZE": "many"}, root=tmp_path)


def test_subclass_required_field_says_where_to_set_it(tmp_path: Path):
    class Needy(Settings, kw_only=True):
        api_token: str

    with pytest.raises(
        ConfigurationError, match="Needy.api_token has no value: set BASTION_API_TOKEN"
    ):
        Needy.load(environ={}, root=tmp_path)
    assert Needy.load(environ={"BASTION_API_TOKEN": "t"}, root=tmp_path).api_token == "t"


def test_unknown_key_without_a_close_match_lists_the_known_ones(tmp_path: Path):
    write(tmp_path, "bastion.toml", "[widgets]\nhost = 'x'\n")
    with pytest.raises(ConfigurationError, match=r"unknown setting 'widgets'\. Known settings: "):
        load(tmp_path)
