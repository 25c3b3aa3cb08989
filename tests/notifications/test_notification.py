"""Notification classes and notify(): hooks checked when a class is defined, channels chosen
per recipient, errors that say what to add, and notify() finding the app it runs in."""

import pytest

from bastion import App, Settings
from bastion.exceptions import ConfigurationError
from bastion.notifications import Notification, NotificationsPlugin, notify
from bastion.testing import TestClient
from bastion.websockets.pubsub import Message, PubSubPlugin
from tests.notifications._app import ArticleCommented, User


def test_a_misspelt_hook_is_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match="did you mean to_database"):

        class Typo(Notification):
            def to_databse(self, notifiable):
                return {}

    class Helper(Notification):  # other to_ names are the class's own business
        def to_json(self):
            return "{}"


def test_the_type_is_the_class_name_in_snake_case_unless_given():
    class HTTPRequestFailed(Notification): ...

    class Renamed(Notification):
        type = "comment.added"

    assert ArticleCommented.type == "article_commented"
    assert HTTPRequestFailed.type == "http_request_failed"
    assert Renamed.type == "comment.added"


async def test_channels_are_chosen_per_recipient():
    class Mention(Notification):
        def via(self, user):
            return ["broadcast"] if user.id % 2 else []

        def to_broadcast(self, user):
            return {"for": user.id}

    pubsub = PubSubPlugin()
    app = App(settings=Settings(profile="test"), plugins=[pubsub, NotificationsPlugin()])
    heard: list[Message] = []
    async with app.lifespan():
        for topic in ("user:1", "user:2", "user:3"):
            await pubsub.pubsub.subscribe(topic, heard.append)
        ids = await notify([User(1), User(2), User(3)], Mention())
    assert len(ids) == 3 and len(set(ids)) == 3
    assert [m.payload["data"] for m in heard] == [{"for": 1}, {"for": 3}]


async def test_mistakes_in_a_notification_say_what_to_write():
    class NoVia(Notification): ...

    class Unknown(Notification):
        def via(self, user):
            return ["sms"]

    class NotAList(Notification):
        def via(self, user):
            return "database"

    class NoRender(Notification):
        def via(self, user):
            return ["broadcast"]

    app = App(settings=Settings(profile="test"), plugins=[PubSubPlugin(), NotificationsPlugin()])
    async with app.lifespan():
        with pytest.raises(NotImplementedError, match=r"define via\(self, notifiable\)"):
            await notify(User(1), NoVia())
        with pytest.raises(ValueError, match="chose 'sms': the channels are"):
            await notify(User(1), Unknown())
        with pytest.raises(TypeError, match="list of channel names"):
            await notify(User(1), NotAList())
        with pytest.raises(NotImplementedError, match=r"define to_broadcast\(self, notifiable\)"):
            await notify(User(1), NoRender())
        with pytest.raises(TypeError, match="needs an `id`"):
            await notify(object(), ArticleCommented("a", "b", ("broadcast",)))
        with pytest.raises(TypeError, match="sends a bastion.notifications.Notification"):
            await notify(User(1), {"not": "a notification"})


@pytest.mark.parametrize(
    ("channel", "fix"),
    [
        ("database", "SQLAlchemyPlugin"),
        ("broadcast", "PubSubPlugin()"),
        ("mail", "MailPlugin"),
        ("webhook", "JobsPlugin"),
    ],
)
async def test_a_channel_without_its_battery_names_the_plugin_to_add(channel, fix):
    app = App(settings=Settings(profile="test"), plugins=[NotificationsPlugin()])
    async with app.lifespan():
        with pytest.raises(ConfigurationError, match=f"needs {fix}"):
            await notify(User(1), ArticleCommented("a", "b", (channel,)))


def test_routes_without_a_database_or_auth_fail_at_start_up():
    with pytest.raises(ConfigurationError, match="add SQLAlchemyPlugin"):
        App(settings=Settings(profile="test"), plugins=[NotificationsPlugin(routes="/n")])
    for bad in (
        {"routes": "n"},
        {"topic": "user"},
        {"webhook_attempts": 0},
        {"webhook_timeout": 0},
        {"webhook_queue": ""},
    ):
        with pytest.raises(ConfigurationError):
            NotificationsPlugin(**bad)
    with pytest.raises(ConfigurationError, match="two NotificationsPlugin"):
        App(
            settings=Settings(profile="test"),
            plugins=[NotificationsPlugin(), NotificationsPlugin()],
        )


async def test_notify_outside_any_running_app_says_how_to_run_one():
    with pytest.raises(ConfigurationError, match="no running app"):
        await notify(User(1), ArticleCommented("a", "b"))


def test_in_a_request_notify_uses_that_apps_channels_even_with_two_apps_running():
    def make(topic: str) -> tuple[App, PubSubPlugin]:
        pubsub = PubSubPlugin()
        app = App(
            settings=Settings(profile="test"), plugins=[pubsub, NotificationsPlugin(topic=topic)]
        )

        @app.post("/ping")
        async def ping() -> None:
            await notify(User(1), ArticleCommented("a", "b", ("broadcast",)))

        return app, pubsub

    (first, first_pubsub), (second, second_pubsub) = make("one:{id}"), make("two:{id}")
    with TestClient(first) as one, TestClient(second) as two:
        heard: list[str] = []
        one.portal.call(first_pubsub.pubsub.subscribe("one:1", lambda m: heard.append(m.topic)))
        two.portal.call(second_pubsub.pubsub.subscribe("two:1", lambda m: heard.append(m.topic)))
        assert two.post("/ping").status_code == 204
        assert one.post("/ping").status_code == 204
        assert heard == ["two:1", "one:1"]
        # Outside any request, on the first app's loop: the app running on that loop.
        one.portal.call(notify(User(1), ArticleCommented("a", "b", ("broadcast",))))
        assert heard == ["two:1", "one:1", "one:1"]


async def test_outside_any_app_notify_uses_the_one_app_on_this_event_loop():
    """A task that began before the app's notifications (an in-process jobs worker) has no
    app in its context: the app running on its loop is used; never another loop's, whose
    engines would fail here, and never a guess between two."""
    import asyncio
    import contextvars

    def make() -> tuple[App, PubSubPlugin]:
        pubsub = PubSubPlugin()
        return App(
            settings=Settings(profile="test"), plugins=[pubsub, NotificationsPlugin()]
        ), pubsub

    def outside_any_app(coroutine):
        return asyncio.create_task(coroutine, context=contextvars.Context())

    (elsewhere, _), (first, first_pubsub), (second, _) = make(), make(), make()
    with TestClient(elsewhere):  # running, on another loop
        with pytest.raises(ConfigurationError, match="no running app"):
            await outside_any_app(notify(User(1), ArticleCommented("a", "b", ("broadcast",))))
        heard: list[Message] = []
        async with first.lifespan():
            await first_pubsub.pubsub.subscribe("user:1", heard.append)
            await outside_any_app(notify(User(1), ArticleCommented("a", "b", ("broadcast",))))
            assert len(heard) == 1
            async with second.lifespan():
                with pytest.raises(ConfigurationError, match="several apps"):
                    await outside_any_app(
                        notify(User(1), ArticleCommented("a", "b", ("broadcast",)))
                    )
