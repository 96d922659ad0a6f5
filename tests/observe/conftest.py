"""Fixtures: a small shop lake after one run, a local webhook and a local SMTP inbox."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from observe_shop import Shop, make_shop


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """A lake after one run (read-only for the tests that share it)."""
    return make_shop(tmp_path_factory.mktemp("shop"))


@pytest.fixture
def fresh_shop(tmp_path: Path) -> Shop:
    """A lake of its own, for tests that run the pipeline again or write alert state."""
    return make_shop(tmp_path)


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A local Slack-compatible webhook: its URL and the JSON bodies it received."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


@pytest.fixture
def smtp() -> Iterator[tuple[int, list]]:
    """A local SMTP server: its port and the envelopes it received."""
    from aiosmtpd.controller import Controller

    messages: list = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            messages.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, messages
    controller.stop()
