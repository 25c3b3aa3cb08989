"""``bastion worker`` (when the app has no ``JobsPlugin``, whose worker runs the handlers
too) and ``bastion messages consume|publish|request``, added by ``MessagingPlugin``.

bastion --app shop:app worker --group orders --concurrency 50
bastion --app shop:app messages publish orders.created '{"id": 7}'
bastion --app shop:app messages request prices.quote '{"sku": "A1"}' --timeout 2
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Any

import click
import msgspec

if TYPE_CHECKING:
    from bastion.services.messaging.plugin import MessagingPlugin


def _consume(plugin: MessagingPlugin, **overrides: Any) -> None:
    """Run the handlers until SIGTERM or Ctrl-C, then let running ones finish (``grace``)."""
    app = plugin.app
    assert app is not None
    _configure_logging(app)
    plugin.consume = False  # this command is the consumer

    async def main() -> None:
        from bastion.cli.loading import running

        async with running(app):
            consumer = plugin.make_consumer(**overrides)
            consumer.compile()
            loop = asyncio.get_running_loop()
            stopping = asyncio.Event()
            interrupted = 0

            def on_signal() -> None:
                nonlocal interrupted
                interrupted += 1
                if interrupted > 1:  # a second Ctrl-C: no grace
                    consumer.options["grace"] = 0
                stopping.set()

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, on_signal)
            try:
                await consumer.start()
                await stopping.wait()
            finally:
                await consumer.stop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

    asyncio.run(main())


def _options(fn: Any) -> Any:
    fn = click.option(
        "--group", "-g", default=None, help="The consumer group (default: the plugin's)."
    )(fn)
    fn = click.option(
        "--concurrency",
        "-c",
        type=click.IntRange(min=1),
        default=None,
        help="Messages handled at once by this process.",
    )(fn)
    return click.option(
        "--grace",
        type=click.FloatRange(min=0),
        default=None,
        help="Seconds running handlers get after SIGTERM before they are handed back.",
    )(fn)


def worker_command(plugin: MessagingPlugin) -> click.Command:
    @click.command("worker")
    @_options
    def worker(group: str | None, concurrency: int | None, grace: float | None) -> None:
        """Run the app's message handlers until SIGTERM or Ctrl-C.

        \b
        Example: bastion --app shop:app worker --group orders --concurrency 50
        """
        _consume(plugin, group=group, concurrency=concurrency, grace=grace)

    return worker


def messages_command(plugin: MessagingPlugin) -> click.Group:
    @click.group("messages")
    def messages() -> None:
        """Consume, publish and request messages on the app's bus."""

    @messages.command("consume")
    @_options
    def consume(group: str | None, concurrency: int | None, grace: float | None) -> None:
        """Run the message handlers only (`bastion worker` also runs jobs)."""
        _consume(plugin, group=group, concurrency=concurrency, grace=grace)

    @messages.command("publish")
    @click.argument("subject")
    @click.argument("payload")
    def publish(subject: str, payload: str) -> None:
        """Publish one event; PAYLOAD is JSON.

        \b
        Example: bastion --app shop:app messages publish orders.created '{"id": 7}'
        """
        value = _json(payload)

        async def work() -> None:
            await plugin.bus.publish(subject, value)

        _run(plugin, work)
        click.echo(f"published to {subject}", err=True)

    @messages.command("request")
    @click.argument("subject")
    @click.argument("payload")
    @click.option("--timeout", "-t", type=click.FloatRange(min=0, min_open=True), default=5.0)
    def request(subject: str, payload: str, timeout: float) -> None:
        """Send a request (PAYLOAD is JSON) and print the reply as JSON.

        \b
        Example: bastion --app shop:app messages request prices.quote '{"sku": "A1"}'
        """
        from bastion.services.messaging.errors import MessagingError, RequestFailed

        value = _json(payload)

        async def work() -> Any:
            return await plugin.bus.request(subject, value, timeout=timeout)

        try:
            reply = _run(plugin, work)
        except RequestFailed as exc:
            detail = msgspec.json.encode(
                {"status": exc.status, "detail": exc.detail, "errors": exc.errors}
            )
            raise click.ClickException(detail.decode()) from None
        except (MessagingError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(msgspec.json.encode(reply).decode())

    return messages


def _json(text: str) -> Any:
    try:
        return msgspec.json.decode(text.encode())
    except msgspec.DecodeError as exc:
        raise click.BadParameter(f"PAYLOAD is not JSON: {exc}") from None


def _run(plugin: MessagingPlugin, work: Any) -> Any:
    app = plugin.app
    assert app is not None
    plugin.consume = False  # publishing from the command line runs no handler here

    async def main() -> Any:
        from bastion.cli.loading import running

        async with running(app):
            return await work()

    return asyncio.run(main())


def _configure_logging(app: Any) -> None:
    import logging

    from bastion.cli._logging import observability

    obs = observability(app)
    if obs is not None:
        obs.configure_logging()
    elif not logging.getLogger().handlers:
        logging.basicConfig(
            level=app.settings.log_level.upper().replace("TRACE", "DEBUG"),
            format="%(asctime)s %(levelname)-7s %(name)s  %(message)s",
        )
