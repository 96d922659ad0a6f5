"""Stopping `shoplake dashboard` the way service managers do frees its port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from observe_shop import Shop

SHOPLAKE = Path(sys.executable).with_name("shoplake")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow  # a real Streamlit server: ~5 s
@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGHUP])
def test_stopping_the_command_stops_the_server_and_frees_the_port(
    shop: Shop, stop_with: signal.Signals
) -> None:
    port = _free_port()
    command = subprocess.Popen(
        [str(SHOPLAKE), "dashboard", "--lake", str(shop.lake), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 40
        while not _listening(port):
            assert command.poll() is None, f"the dashboard exited with {command.returncode}"
            assert time.monotonic() < deadline, "the dashboard never listened"
            time.sleep(0.2)
        [server] = _children(command.pid)

        os.kill(command.pid, stop_with)
        assert command.wait(timeout=15) == 0  # a requested stop is a clean exit
        deadline = time.monotonic() + 5
        while _listening(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _listening(port)
        assert not Path(f"/proc/{server}").exists() or "Z" in _state(server)
    finally:
        if command.poll() is None:
            command.kill()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "Z"
