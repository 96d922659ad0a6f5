"""The dashboard behind `shoplake serve`'s tokens, in a real headless Chromium."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
from serve_harness import Served

from shoplake.bench.common import free_port
from shoplake.dashboard.server import command, is_loopback

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def test_only_loopback_binds_go_without_a_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    assert "--require-token" in command("lake", address="0.0.0.0")
    assert "--require-token" not in command("lake", address="127.0.0.1")
    assert "--require-token" in command("lake", address="127.0.0.1", require_token=True)


@pytest.mark.slow  # a real Streamlit server and browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
def test_the_dashboard_asks_for_a_token_and_admits_only_a_granted_one(served: Served) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    process = subprocess.Popen(
        command(str(served.lake), port=port, require_token=True, refresh_s=60),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page()
            page.goto(url)
            page.get_by_text("enter a token to open it").wait_for(timeout=20_000)
            assert page.locator('[data-testid="stMetricValue"]').count() == 0
            page.goto(f"{url}/?token={served.tokens['analyst']}")
            page.get_by_text("needs SELECT on *").wait_for(timeout=20_000)
            page.goto(f"{url}/?token=slk_0000000000000000_not-a-real-token-at-all")
            page.get_by_text("That token is not valid").wait_for(timeout=20_000)
            page.goto(f"{url}/?token={served.tokens['owner']}")
            page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=30_000)
            assert "token=" not in page.url
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    audit = pl.read_delta(str(served.lake / "_system" / "audit"))
    doors = audit.filter(pl.col("action") == "dashboard")
    assert set(zip(doors["principal"], doors["allowed"], strict=True)) >= {
        ("owner", True),
        ("analyst", False),
        ("anonymous", False),
    }
