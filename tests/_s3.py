"""A throwaway S3-compatible server for the tests: moto's server on 127.0.0.1, in its own
process (so a test measuring its own memory measures only the app), one per test session.

moto is a test dependency (moto[server]); without it the tests that need it are skipped on
a developer machine and fail in CI (``CI=true``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests._processes import accepts, free_port, missing

ACCESS_KEY = "bastion-test-key"
SECRET_KEY = "bastion-test-secret"


@contextmanager
def s3_server() -> Iterator[str]:
    """Yield the endpoint URL (``http://127.0.0.1:<port>``) of a fresh server; stop it after."""
    if importlib.util.find_spec("moto") is None:
        missing("moto[server] is not installed")
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    from tests._processes import running

    with running(
        command,
        ready=lambda: accepts(port),
        what=f"moto's S3 server on port {port}",
        timeout=30,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ):
        yield f"http://127.0.0.1:{port}"


def create_bucket(endpoint: str, name: str) -> None:
    """Make ``name`` on the server (with boto3, which moto depends on)."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket=name)
