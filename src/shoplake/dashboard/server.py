"""Starting the Streamlit server for the dashboard: local, headless, no usage stats."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

from shoplake.config import DEFAULT_PIPELINE

APP = Path(__file__).with_name("app.py")


def command(
    lake: str,
    *,
    landing: str = "./landing",
    port: int = 8501,
    address: str = "127.0.0.1",
    refresh_s: float = 2.0,
    sla_minutes: dict[str, int] | None = None,
    show_pii: bool = False,
    pipeline: str = DEFAULT_PIPELINE,
    require_token: bool | None = None,
) -> list[str]:
    """The ``streamlit run`` command line; everything it loads ships in the wheel.

    Bound beyond loopback (or with ``require_token``), the page asks for a token of
    ``shoplake serve``'s (``shoplake token create``) before it shows anything."""
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--theme.base",
        "light",
        "--",
        "--lake",
        lake,
        "--landing",
        landing,
        "--pipeline",
        pipeline,
        "--refresh",
        str(refresh_s),
        "--sla",
        json.dumps(sla_minutes or {}),
    ]
    if show_pii:
        cmd.append("--show-pii")
    if require_token is None:
        require_token = not is_loopback(address)
    if require_token:
        cmd.append("--require-token")
    return cmd


def is_loopback(address: str) -> bool:
    """Whether only this machine can reach ``address``."""
    import ipaddress

    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def serve(lake: str, **options: object) -> int:
    """Run the dashboard in the foreground until interrupted; returns the exit code.

    Ctrl+C, SIGTERM and SIGHUP (systemd, Docker, a CI job stopping the command) all
    stop the Streamlit server too, so the port is free once the command is gone; the
    server also gets SIGTERM if this process is killed outright (Linux).
    """
    process = subprocess.Popen(
        command(lake, **options),  # type: ignore[arg-type]
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )

    stopping: list[int] = []

    def stop(signum: int = signal.SIGTERM, frame: object = None) -> None:
        stopping.append(signum)
        if process.poll() is None:
            process.terminate()
            # A server that ignores the request is killed after a grace period.
            timer = threading.Timer(STOP_GRACE_S, _kill_if_alive, (process,))
            timer.daemon = True
            timer.start()

    forwarded = (signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, stop) for s in forwarded}
    try:
        while True:
            try:
                code = process.wait()
                # Asked to stop, the server ends by a signal: that is a clean stop.
                return 0 if stopping else code
            except KeyboardInterrupt:
                stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _kill_if_alive(process)


STOP_GRACE_S = 10.0


def _kill_if_alive(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
