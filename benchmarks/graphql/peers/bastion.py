"""Bastion: the GraphQL plugin with its defaults (limits, persisted queries, the parse and
validation caches, GraphiQL for browsers), in the prod profile."""

from bastion import App, Settings
from bastion.graphql import GraphQL

from .schema import schema

app = App(
    settings=Settings(profile="prod", debug=False, secret_key="bench-" + "x" * 40),
    plugins=[GraphQL(schema)],
)


@app.get("/plaintext")
async def plaintext() -> str:  # what the harness polls until the server is up
    return "Hello, World!"
