"""GraphiQL, served offline: GraphiQL 3.8.3 and React 18.2.0 from npm, vendored in
``graphiql/`` with their licences (MIT), so the page loads nothing from a CDN.

Strawberry's own page loads them from unpkg.com, which a closed network or a strict
Content-Security-Policy does not allow.
"""

from __future__ import annotations

import html
import json
import mimetypes
from pathlib import Path

from bastion.exceptions import NotFound
from bastion.http.response import Response

ASSETS = (
    "graphiql.min.css",
    "graphiql.min.js",
    "react.production.min.js",
    "react-dom.production.min.js",
)


def graphiql_page(endpoint: str, assets_url: str, subscriptions_url: str | None) -> str:
    """The page; the endpoint URLs go in as JSON with '<' escaped, so nothing closes the tag."""
    assets = html.escape(assets_url, quote=True)
    config = json.dumps({"url": endpoint, "subscriptionUrl": subscriptions_url})
    config = config.replace("<", "\\u003c")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>GraphiQL</title>
  <link rel="stylesheet" href="{assets}/graphiql.min.css">
  <style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="{assets}/react.production.min.js"></script>
  <script src="{assets}/react-dom.production.min.js"></script>
  <script src="{assets}/graphiql.min.js"></script>
  <script>
    const config = {config};
    const url = new URL(config.url, window.location.href).toString();
    const fetcher = GraphiQL.createFetcher({{ url: url }});
    const root = ReactDOM.createRoot(document.getElementById("graphiql"));
    root.render(React.createElement(GraphiQL, {{ fetcher: fetcher }}));
  </script>
</body>
</html>"""


class Assets:
    """Reads each vendored file once; answers 404 for any other name."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, str]] = {}

    def response(self, name: str) -> Response:
        if name not in ASSETS:
            raise NotFound(f"No GraphiQL asset named {name!r}")
        if name not in self._files:
            path = Path(__file__).resolve().parent / "graphiql" / name
            media = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self._files[name] = (path.read_bytes(), media)
        body, media = self._files[name]
        headers = {"content-type": media, "cache-control": "public, max-age=86400"}
        return Response(body, 200, headers)
