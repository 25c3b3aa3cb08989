"""The app the subscription tests serve with uvicorn: GraphQL fed by Redis pub/sub.

``create_app()`` reads the Redis URL from ``BASTION_TEST_REDIS`` (memory pub/sub without it).
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import strawberry
from strawberry.types import Info

from bastion import App, Request, Settings
from bastion.graphql import Context, GraphQL, events
from bastion.websockets.pubsub import MemoryPubSub, PubSub, PubSubPlugin, RedisPubSub


@dataclass
class AppContext(Context):
    pubsub: PubSub


async def make_context(request: Request, pubsub: PubSub) -> AppContext:
    return AppContext(request, pubsub)


@strawberry.type
class Article:
    title: str


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "Hello"


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def announce(self, info: Info[AppContext, None], title: str) -> str:
        await info.context.pubsub.broadcast("articles", "published", {"title": title})
        return title


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def article_published(
        self, info: Info[AppContext, None]
    ) -> AsyncGenerator[Article, None]:
        async for message in events(info.context.pubsub, "articles"):
            yield Article(title=message.payload["title"])

    @strawberry.subscription
    async def count(self, to: int) -> AsyncGenerator[int, None]:
        for i in range(to):
            yield i

    @strawberry.subscription
    async def greeting(self, info: Info[AppContext, None]) -> AsyncGenerator[str, None]:
        params = info.context.connection_params or {}
        yield f"Hello, {params.get('name', 'stranger')}"

    @strawberry.subscription
    async def failing(self) -> AsyncGenerator[int, None]:
        yield 1
        raise KeyError("secret internal detail")


schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)


def create_app(redis_url: str | None = None, init_timeout: float = 5.0) -> App:
    url = redis_url or os.environ.get("BASTION_TEST_REDIS")
    backend = RedisPubSub(url, prefix="gqltest") if url else MemoryPubSub()
    graphql = GraphQL(schema, context=make_context, connection_init_timeout=init_timeout)
    return App(settings=Settings(debug=False), plugins=[PubSubPlugin(backend), graphql])
