from pathlib import Path

import pytest

from bastion import ConfigurationError, Settings

KEY = "k" * 40


def test_defaults_are_dev():
    settings = Settings.load(environ={}, root="/nonexistent")
    assert settings.profile == "dev"
    assert settings.debug is True
    assert settings.max_body_size == 1024 * 1024


def test_environment_variables_are_typed():
    settings = Settings.load(environ={"BASTION_PORT": "9000", "BASTION_DEBUG": "false",
                                      "BASTION_ALLOWED_HOSTS": "a.com, b.com"}, root="/nonexistent")
    assert settings.port == 9000
    assert settings.debug is False
    assert settings.allowed_hosts == ["a.com", "b.com"]


def test_list_from_json_array():
    settings = Settings.load(environ={"BASTION_ALLOWED_HOSTS": '["x.com"]'}, root="/nonexistent")
    assert settings.allowed_hosts == ["x.com"]


def test_bad_value_names_source_and_fix():
    with pytest.raises(ConfigurationError, match=r"BASTION_PORT='abc' \(environment\).*whole number"):
        Settings.load(environ={"BASTION_PORT": "abc"}, root="/nonexistent")


def test_out_of_range_port():
    with pytest.raises(ConfigurationError, match="out of range"):
        Settings.load(environ={"BASTION_PORT": "70000"}, root="/nonexistent")


def test_dotenv_below_environment(tmp_path: Path):
    (tmp_path / ".env").write_text(
        "# comment\nexport BASTION_APP_NAME='from dotenv'\nBASTION_PORT=7000 # trailing\n"
        'BASTION_LOG_LEVEL="debug"\n'
    )
    settings = Settings.load(environ={"BASTION_PORT": "7100"}, root=tmp_path)
    assert settings.app_name == "from dotenv"
    assert settings.port == 7100
    assert settings.log_level == "debug"


def test_malformed_dotenv_line(tmp_path: Path):
    (tmp_path / ".env").write_text("JUSTAWORD\n")
    with pytest.raises(ConfigurationError, match="expected KEY=VALUE"):
        Settings.load(environ={}, root=tmp_path)


def test_toml_with_profiles(tmp_path: Path):
    (tmp_path / "bastion.toml").write_text(
        'app_name = "shop"\nport = 8100\n\n[profile.test]\nport = 8200\n\n'
        f'[profile.prod]\nsecret_key = "{KEY}"\ndebug = false\n'
    )
    assert Settings.load(environ={}, root=tmp_path).port == 8100
    test = Settings.load(profile="test", environ={}, root=tmp_path)
    assert (test.app_name, test.port, test.debug) == ("shop", 8200, False)
    prod = Settings.load(environ={"BASTION_PROFILE": "prod"}, root=tmp_path)
    assert prod.profile == "prod"
    assert prod.secret_key == KEY


def test_unknown_toml_key_is_a_typo_error(tmp_path: Path):
    (tmp_path / "bastion.toml").write_text("prot = 8000\n")
    with pytest.raises(ConfigurationError, match="unknown setting 'prot'"):
        Settings.load(environ={}, root=tmp_path)


def test_invalid_toml(tmp_path: Path):
    (tmp_path / "bastion.toml").write_text("port = \n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        Settings.load(environ={}, root=tmp_path)


def test_overrides_win(tmp_path: Path):
    settings = Settings.load(environ={"BASTION_PORT": "1"}, root=tmp_path, port=2)
    assert settings.port == 2


def test_unknown_override():
    with pytest.raises(ConfigurationError, match="Unknown setting 'nope'"):
        Settings.load(environ={}, root="/nonexistent", nope=1)


def test_prod_needs_a_long_secret_key():
    with pytest.raises(ConfigurationError, match="prod profile needs a secret key"):
        Settings.load(profile="prod", environ={}, root="/nonexistent")
    with pytest.raises(ConfigurationError, match="at least 32"):
        Settings.load(profile="prod", environ={"BASTION_SECRET_KEY": "short"}, root="/nonexistent")


def test_prod_refuses_debug():
    with pytest.raises(ConfigurationError, match="debug"):
        Settings.load(profile="prod", environ={"BASTION_SECRET_KEY": KEY, "BASTION_DEBUG": "1"},
                      root="/nonexistent")


def test_subclass_adds_typed_fields(tmp_path: Path):
    class MySettings(Settings, kw_only=True):
        database_url: str = "sqlite+aiosqlite:///./app.db"
        pool_size: int = 5

    settings = MySettings.load(environ={"BASTION_POOL_SIZE": "12"}, root=tmp_path)
    assert isinstance(settings, MySettings)
    assert settings.pool_size == 12
    assert settings.database_url.startswith("sqlite")


def test_none_for_optional_fields():
    settings = Settings.load(environ={"BASTION_DOCS_URL": "none"}, root="/nonexistent")
    assert settings.docs_url is None


def test_trailing_slash_choice_is_validated():
    with pytest.raises(ConfigurationError):
        Settings.load(environ={"BASTION_TRAILING_SLASH": "sometimes"}, root="/nonexistent")
