"""Litestar with Strawberry's make_graphql_controller, as Strawberry's Litestar guide mounts it."""

from litestar import Litestar, MediaType, get
from strawberry.litestar import make_graphql_controller

from .schema import schema

GraphQLController = make_graphql_controller(schema, path="/graphql")


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return "Hello, World!"


app = Litestar(route_handlers=[GraphQLController, plaintext])
