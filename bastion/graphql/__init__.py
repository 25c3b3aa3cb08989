"""GraphQL with Strawberry: a schema served by the app with Bastion's dependency injection,
auth, limits, persisted queries, GraphiQL (offline) and subscriptions fed by the pub/sub.

    schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)
    app = App(plugins=[GraphQL(schema, context=make_context)])

Needs the ``graphql`` extra (strawberry-graphql). The guide is docs/graphql.md.
"""

from bastion.graphql._context import Context
from bastion.graphql._limits import Limits
from bastion.graphql._persisted import PersistedQueries
from bastion.graphql.events import events
from bastion.graphql.permissions import IsAuthenticated, allowed, requires
from bastion.graphql.plugin import GraphQL

__all__ = [
    "Context",
    "GraphQL",
    "IsAuthenticated",
    "Limits",
    "PersistedQueries",
    "allowed",
    "events",
    "requires",
]
