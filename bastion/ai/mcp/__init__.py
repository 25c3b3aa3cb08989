"""Routes of the app as Model Context Protocol tools and resources (see docs/mcp.md).

from bastion.ai.mcp import MCP

mcp = MCP(name="shop")
app = App(plugins=[mcp])

@app.get("/orders/{order_id}")
@mcp.tool()
async def get_order(order_id: int) -> Order: ...
"""

from bastion.ai.mcp.plugin import MCP

__all__ = ["MCP"]
