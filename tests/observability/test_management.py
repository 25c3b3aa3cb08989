"""The authorised endpoints: /_bastion/info and /_bastion/loggers."""

import logging

import msgspec
import pytest

from bastion import Settings
from bastion.observability import masked_settings
from bastion.observability.levels import SharedLevels
from bastion.testing import TestClient
from tests.observability.conftest import make_app


class ShopSettings(Settings, kw_only=True):
    database_url: str = "postgresql://shop:hunter2@db.internal:5432/shop"
    stripe_api_key: str = "sk_live_abc"
    smtp_password: str | None = None
    mirrors: list[str] = msgspec.field(default_factory=lambda: ["https://user:pw@mirror.example/simple"])
    greeting: str = "hello"


@pytest.fixture
def restore_levels():
    names = ["shop", "shop.payments"]
    saved = {n: logging.getLogger(n).level for n in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_info_needs_authorisation(auth):
    with TestClient(make_app()) as client:
        denied = client.get("/_bastion/info")
        assert denied.status_code == 401
        assert denied.headers["content-type"] == "application/problem+json"
        info = client.get("/_bastion/info", headers=auth).json()
    assert info["python"]["version"].count(".") == 2
    assert info["app"]["version"] == "0.1.0" and info["bastion"]["version"]
    assert "sha" in info["git"] and info["process"]["uptime_seconds"] >= 0


def test_info_masks_every_secret(monkeypatch):
    monkeypatch.setenv("BASTION_GIT_SHA", "0123abc")
    settings = ShopSettings(profile="test", secret_key="k" * 40)
    masked = masked_settings(settings)
    assert masked["secret_key"] == "******"
    assert masked["stripe_api_key"] == "******"
    assert masked["smtp_password"] is None  # unset stays visibly unset
    assert masked["database_url"] == "postgresql://shop:******@db.internal:5432/shop"
    assert masked["mirrors"] == ["https://user:******@mirror.example/simple"]
    assert masked["greeting"] == "hello"

    from bastion import App
    from bastion.observability import ObservabilityPlugin

    app = App(settings=settings, plugins=[ObservabilityPlugin(token="t" * 20, logs=None)])
    with TestClient(app) as client:
        body = client.get("/_bastion/info", headers={"authorization": "Bearer " + "t" * 20})
    assert body.json()["git"]["sha"] == "0123abc"
    assert "hunter2" not in body.text and "sk_live" not in body.text and "k" * 40 not in body.text


def test_loggers_are_listed_and_changed_at_run_time(auth, restore_levels):
    logging.getLogger("shop.payments")
    with TestClient(make_app()) as client:
        assert client.get("/_bastion/loggers").status_code == 401
        listing = client.get("/_bastion/loggers", headers=auth).json()
        assert "DEBUG" in listing["levels"] and "shop.payments" in listing["loggers"]

        changed = client.post("/_bastion/loggers/shop", json={"level": "debug"}, headers=auth)
        assert changed.status_code == 200
        assert changed.json() == {"configured": "DEBUG", "effective": "DEBUG"}
        assert logging.getLogger("shop.payments").isEnabledFor(logging.DEBUG)
        child = client.get("/_bastion/loggers/shop.payments", headers=auth).json()
        assert child == {"configured": None, "effective": "DEBUG"}

        reset = client.post("/_bastion/loggers/shop", json={"level": None}, headers=auth)
        assert reset.json()["configured"] is None


def test_bad_level_changes_are_refused(auth):
    with TestClient(make_app()) as client:
        assert client.post("/_bastion/loggers/shop", json={"level": "LOUD"}, headers=auth).status_code == 422
        form = client.post("/_bastion/loggers/shop", data={"level": "DEBUG"}, headers=auth)
        assert form.status_code == 415  # a cross-site form cannot change levels
        assert client.post("/_bastion/loggers/shop", json={"level": "DEBUG"}).status_code == 401


def test_a_level_set_in_one_worker_reaches_the_others(tmp_path, restore_levels):
    here, there = SharedLevels(str(tmp_path)), SharedLevels(str(tmp_path))
    here.set("shop", "ERROR")
    logging.getLogger("shop").setLevel(logging.NOTSET)  # as if `there` were another process
    there.sync()
    assert logging.getLogger("shop").level == logging.ERROR
    here.set("shop", None)
    logging.getLogger("shop").setLevel(logging.ERROR)
    there.sync()
    assert logging.getLogger("shop").level == logging.NOTSET
