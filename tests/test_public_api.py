"""The public API is what ``bastion/__init__.py`` exports: pinned, so changes are deliberate."""

import bastion

EXPECTED = {
    "App", "ASGIMiddleware", "BackgroundTasks", "BadRequest", "BastionError", "Body", "ConfigurationError",
    "Conflict", "Controller", "Cookie", "Depends", "File", "Forbidden", "Form", "HTMLResponse",
    "HTTPError", "Header", "JSONResponse", "MethodNotAllowed", "NotFound", "Path",
    "PayloadTooLarge", "Plugin", "PreconditionFailed", "ProblemResponse", "Query", "RedirectResponse", "Request",
    "Response", "Router", "Settings", "StreamingResponse", "TextResponse", "TooManyRequests",
    "Unauthorized", "UnsupportedMediaType", "ValidationError", "WebSocket",
    "WebSocketDisconnect", "delete", "Encoder", "JSON_ENCODER", "MSGPACK_ENCODER",
    "Version", "VersionRange", "Versioning", "get", "patch", "post", "put", "websocket",
}


def test_all_is_pinned():
    assert set(bastion.__all__) == EXPECTED


def test_every_exported_name_exists():
    for name in bastion.__all__:
        assert getattr(bastion, name) is not None, name


def test_importing_bastion_pulls_in_no_battery_or_server():
    import subprocess
    import sys

    code = (
        "import sys, bastion; "
        "heavy = [m for m in ('uvicorn', 'jinja2', 'httpx', 'python_multipart', 'click', 'rich') "
        "if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
