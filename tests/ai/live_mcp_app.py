"""The app the MCP tests serve: a small shop whose routes are MCP tools and resources,
behind JWT bearer tokens, a role guard and a rate limit."""

from __future__ import annotations

from typing import Annotated

import msgspec

from bastion import App, Settings
from bastion.ai.mcp import MCP
from bastion.auth import AuthPlugin, CurrentUser, JWTAuth, requires
from bastion.exceptions import NotFound
from bastion.params.markers import Query
from bastion.security.ratelimit import RateLimit

SECRET = "a-test-secret-for-the-mcp-tests-of-32-bytes"
tokens = JWTAuth(secret=SECRET)


class NewOrder(msgspec.Struct):
    sku: Annotated[str, msgspec.Meta(min_length=3, max_length=20, pattern="^[A-Z0-9-]+$")]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=100)]


class Order(msgspec.Struct):
    id: int
    sku: str
    quantity: int
    buyer: str


def create_app() -> App:
    mcp = MCP(name="shop", instructions="A tiny shop.")
    app = App(settings=Settings(profile="test"), plugins=[AuthPlugin(tokens), mcp])
    orders: dict[int, Order] = {1: Order(1, "TEA-1", 2, "7")}

    @app.get("/orders/{order_id:int}")
    @mcp.tool()
    async def get_order(order_id: int) -> Order:
        """Look an order up by its number."""
        if order_id not in orders:
            raise NotFound(f"There is no order {order_id}")
        return orders[order_id]

    @app.post("/orders", dependencies=[requires("buyer")])
    @mcp.tool(name="place_order")
    async def create(order: NewOrder, user: CurrentUser) -> Order:
        """Place an order (buyers only)."""
        made = Order(len(orders) + 1, order.sku, order.quantity, user.subject)
        orders[made.id] = made
        return made

    @app.get("/search", middleware=[RateLimit("3/minute")])
    @mcp.tool()
    async def search(
        q: Annotated[str, Query(description="Words to look for")], limit: int = 10
    ) -> list[str]:
        """Search the catalogue."""
        return [sku for sku in ("TEA-1", "TEA-2", "COFFEE-1") if q.upper() in sku][:limit]

    @app.get("/boom")
    @mcp.tool()
    async def boom() -> dict[str, str]:
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/catalog")
    @mcp.resource(mime_type="application/json")
    async def catalog() -> list[str]:
        """Everything on sale."""
        return ["TEA-1", "TEA-2", "COFFEE-1"]

    @app.get("/orders/{order_id:int}/receipt")
    @mcp.resource()
    async def receipt(order_id: int, user: CurrentUser) -> str:
        """An order's receipt, for its buyer."""
        order = orders.get(order_id)
        if order is None or order.buyer != user.subject:
            raise NotFound(f"You have no order {order_id}")
        return f"Order {order_id}: {order.quantity} x {order.sku}"

    @app.get("/admin/export")
    async def export() -> dict[str, int]:  # a route that is not a tool
        return {"orders": len(orders)}

    return app
