"""Starting the Streamlit server for the dashboard: local, headless, no usage stats."""

from __future__ import annotations

import json
import subprocess
import sys
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
) -> list[str]:
    """The ``streamlit run`` command line; everything it loads ships in the wheel."""
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
    return cmd


def serve(lake: str, **options: object) -> int:
    """Run the dashboard in the foreground until interrupted; returns the exit code."""
    process = subprocess.Popen(command(lake, **options))  # type: ignore[arg-type]
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()
