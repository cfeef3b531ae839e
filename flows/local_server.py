"""A local Prefect server (SQLite, loopback) for ``chartetl serve``: schedules need one."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator


@contextlib.contextmanager
def local_prefect_server(port: int = 4200, startup_seconds: float = 60) -> Iterator[str]:
    """Start ``prefect server start`` on 127.0.0.1:``port``, point this process at it, stop it on exit.

    Args:
        port: the loopback port.
        startup_seconds: how long to wait for the server's health check.

    Yields:
        The API URL.
    """
    url = f"http://127.0.0.1:{port}/api"
    environment = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local Prefect server did not start on port {port}")
            time.sleep(0.5)
        previous = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            if previous is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = previous
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
