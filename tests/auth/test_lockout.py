"""Account lockout: N failures lock the address for a while (longer each time), the owner
is mailed, and an address without an account is answered exactly alike."""

import datetime
import time
from typing import Any

import pytest
from sqlalchemy import update

from bastion import App, ConfigurationError, Settings
from bastion.auth import PasswordHasher, SessionPlugin
from bastion.auth.lockout import Lockout, LoginFailures
from bastion.auth.routes import AuthRoutes
from bastion.mail import MailPlugin
from bastion.testing import TestClient
from tests.auth.conftest import app_with_database

PASSWORD = "a long enough password"


def make_app(url: str, hasher: PasswordHasher, **options: Any):
    mail = MailPlugin("memory://", sender="accounts@example.com")
    lockout = Lockout(max_failures=3, **options)
    app, database = app_with_database(
        url,
        lambda db: [mail, SessionPlugin(), AuthRoutes(hasher=hasher, throttle=None), lockout],
    )
    return app, database, mail


def log_in(client: TestClient, email: str, password: str):
    return client.post("/auth/login", json={"email": email, "password": password})


def test_failures_lock_the_account_the_same_way_whether_it_exists_or_not(
    database_url: str, hasher: PasswordHasher
) -> None:
    app, _, mail = make_app(database_url, hasher)
    with TestClient(app) as client:
        body = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
        assert client.post("/auth/register", json=body).status_code == 202  # signs nobody in
        answers = {}
        for email in ("ada@example.com", "nobody@example.com"):
            for _ in range(3):
                assert log_in(client, email, "wrong password!").status_code == 401
            locked = log_in(client, email, PASSWORD)  # even the right password now
            assert locked.status_code == 429
            assert locked.headers["content-type"] == "application/problem+json"
            assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
            answers[email] = locked.json()
        assert answers["ada@example.com"] == answers["nobody@example.com"]
        assert (
            "try again in 15 minutes, or reset the password"
            in answers["nobody@example.com"]["detail"]
        )
        deadline = time.monotonic() + 5
        while not mail.mailer.outbox and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.to for m in mail.mailer.outbox] == [["ada@example.com"]]  # only real owners
        assert "locked" in mail.mailer.outbox[0].subject


def test_each_new_lock_lasts_twice_as_long_and_a_success_resets(
    database_url: str, hasher: PasswordHasher
) -> None:
    app, database, _ = make_app(database_url, hasher)

    async def unlock() -> None:
        past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
        async with database.sessions() as db:
            await db.execute(update(LoginFailures).values(locked_until=past))
            await db.commit()

    with TestClient(app) as client:
        body = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
        assert client.post("/auth/register", json=body).status_code == 202
        lengths = []
        for _ in range(2):
            for _ in range(3):
                log_in(client, "ada@example.com", "wrong password!")
            lengths.append(int(log_in(client, "ada@example.com", PASSWORD).headers["retry-after"]))
            client.portal.call(unlock())
        assert lengths[0] <= 15 * 60 < lengths[1] <= 30 * 60
        assert log_in(client, "ada@example.com", PASSWORD).status_code == 200  # unlocked
        for _ in range(2):  # the success forgot the earlier failures
            assert log_in(client, "ada@example.com", "wrong password!").status_code == 401
        assert log_in(client, "ada@example.com", PASSWORD).status_code == 200


def test_misconfiguration_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="at least 1"):
        Lockout(max_failures=0)
    with pytest.raises(ConfigurationError, match="max_lock"):
        Lockout(lock_for=datetime.timedelta(hours=2), max_lock=datetime.timedelta(hours=1))
    with pytest.raises(ConfigurationError, match="SQLAlchemyPlugin"):
        App(settings=Settings(profile="test"), plugins=[Lockout()])


def test_with_notifications_the_owner_gets_a_notification_and_its_mail(
    tmp_path, hasher: PasswordHasher
) -> None:
    from bastion.notifications import Inbox, NotificationsPlugin

    mail = MailPlugin("memory://", sender="accounts@example.com")
    notifications = NotificationsPlugin()
    app, database = app_with_database(
        f"sqlite+aiosqlite:///{tmp_path}/n.db",
        lambda db: [
            mail,
            notifications,
            SessionPlugin(),
            AuthRoutes(hasher=hasher, throttle=None),
            Lockout(max_failures=2),
        ],
    )

    class Owner:
        id = 1

    with TestClient(app) as client:
        client.portal.call(_notification_table(database))
        body = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
        assert client.post("/auth/register", json=body).status_code == 202
        for _ in range(2):
            assert log_in(client, "ada@example.com", "wrong password!").status_code == 401
        inbox: Inbox = notifications.inbox
        deadline = time.monotonic() + 5
        while not client.portal.call(inbox.list(Owner())) and time.monotonic() < deadline:
            time.sleep(0.05)
        [stored] = client.portal.call(inbox.list(Owner()))
        assert stored.type == "account_locked" and stored.data["failures"] == 2
        assert [m.to for m in mail.mailer.outbox] == [["ada@example.com"]]
        assert "locked" in mail.mailer.outbox[0].subject


async def _notification_table(database) -> None:
    from bastion.notifications._schema import metadata

    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
