"""Every answer is bounded: in time from arrival to encoded answer, in bytes out, in body
bytes in; and one caller's big answer does not stall the others or ``/health``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import polars as pl
import pyarrow as pa
import pytest
from serve_harness import SQL, Local, Served

ARROW = "application/vnd.apache.arrow.stream"
# 10,000 rows x 200 columns of integers, text, timestamps and decimals: ~25 MB of JSON.
KINDS = (
    "range + {i}",
    "'s' || range",
    "TIMESTAMP '2024-01-01' + to_seconds(range)",
    "(range / 7)::DECIMAL(18, 3)",
)
WIDE = "SELECT " + ", ".join(f"{KINDS[i % 4].format(i=i)} AS c{i}" for i in range(200))
WIDE += " FROM range(10000)"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A lake holding nothing but a token: the queries here read generators only."""
    from shoplake.engines.polars_delta import PolarsDeltaEngine
    from shoplake.share.access import create_token

    root = tmp_path_factory.mktemp("bounds") / "lake"
    root.mkdir()
    token = create_token(PolarsDeltaEngine(str(root)), "wide", [("SELECT", "gold.*")])
    return root, token


@contextmanager
def _server(lake: tuple[Path, str], **limits: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from shoplake.share.app import create_app
    from shoplake.share.query import Limits

    app = create_app(str(lake[0]), limits=Limits(**limits), audit_every_s=3600)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {lake[1]}"
        yield client


def _ask(client: Any, query: str, accept: str = "application/json") -> httpx.Response:
    response: httpx.Response = client.post(SQL, json={"query": query}, headers={"Accept": accept})
    return response


def test_encoding_a_wide_answer_counts_against_the_timeout(lake: tuple[Path, str]) -> None:
    """The query takes a few tenths of a second; encoding its 2,000,000 values once took
    seconds more, outside the timeout. Now the answer comes in time or is a 408 in time."""
    with _server(lake, max_rows=10_000, timeout_s=1.0) as client:
        started = time.monotonic()
        response = _ask(client, WIDE)
        took = time.monotonic() - started
    assert response.status_code in (200, 408), response.text[:300]
    assert took < 1.0 + 1.5, f"{took:.1f} s for a 1 s timeout"


def test_a_slow_encoding_is_stopped_with_a_408(
    lake: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shoplake.share.answer as answer

    real = answer.orjson.dumps

    class Slow:
        @staticmethod
        def dumps(*args: Any, **kwargs: Any) -> bytes:
            time.sleep(0.05)  # each slice of rows: the encoding alone passes the deadline
            return real(*args, **kwargs)

    monkeypatch.setattr(answer, "orjson", Slow)
    with _server(lake, max_rows=10_000, timeout_s=1.0) as client:
        started = time.monotonic()
        response = _ask(client, WIDE)
        took = time.monotonic() - started
    assert response.status_code == 408, response.text[:300]
    assert response.json()["error_code"] == "QUERY_TIMEOUT"
    assert "longer than 1 s" in response.json()["message"]
    assert took < 1.0 + 1.0, f"{took:.1f} s for a 1 s timeout"


def test_health_answers_quickly_while_wide_answers_are_encoded(lake: tuple[Path, str]) -> None:
    """Encoding once ran on the event loop: /health waited seconds behind one caller."""
    with _server(lake, max_rows=10_000, timeout_s=60) as client:
        statuses: list[int] = []
        callers = [
            threading.Thread(target=lambda: statuses.append(_ask(client, WIDE).status_code))
            for _ in range(2)
        ]
        for caller in callers:
            caller.start()
        waits: list[float] = []
        while any(c.is_alive() for c in callers):
            began = time.perf_counter()
            assert client.get("/health").status_code == 200
            waits.append(time.perf_counter() - began)
            time.sleep(0.01)
        for caller in callers:
            caller.join()
    assert statuses == [200, 200]
    assert len(waits) >= 3, waits
    assert max(waits) < 0.5, f"/health took up to {max(waits):.2f} s"


def test_an_answer_over_max_bytes_is_refused_and_audited(lake: tuple[Path, str]) -> None:
    big = "SELECT repeat('x', 1000) AS s FROM range(500)"  # ~500 KB either way
    with _server(lake, max_rows=10_000, timeout_s=30, max_bytes=100_000) as client:
        for accept in ("application/json", ARROW):
            response = _ask(client, big, accept)
            assert response.status_code == 400, response.text[:300]
            answer = response.json()
            assert answer["error_code"] == "ANSWER_TOO_LARGE"
            assert "--max-bytes" in answer["message"] and "max_rows" in answer["message"]
        small = _ask(client, "SELECT repeat('x', 10) AS s FROM range(500)")
        assert small.status_code == 200 and small.json()["row_count"] == 500
        client.app.state.shoplake.audit.flush()
    audit = pl.read_delta(str(lake[0] / "_system" / "audit"))
    refused = audit.filter(pl.col("status") == 400, pl.col("detail").str.contains("max-bytes"))
    assert refused.height >= 2 and not refused["allowed"].any()


def test_the_byte_cap_is_the_encoded_size_not_arrows(lake: tuple[Path, str]) -> None:
    """80 KB of Arrow integers are 40 KB of JSON: the cap is checked on what is sent."""
    zeros = "SELECT 0::BIGINT AS a FROM range(10000)"
    with _server(lake, max_rows=10_000, timeout_s=30, max_bytes=60_000) as client:
        as_json = _ask(client, zeros)
        as_arrow = _ask(client, zeros, ARROW)
    assert as_json.status_code == 200 and as_json.json()["row_count"] == 10_000
    assert len(as_json.content) <= 60_000
    assert as_arrow.status_code == 400 and as_arrow.json()["error_code"] == "ANSWER_TOO_LARGE"


def test_rows_far_over_the_byte_cap_are_refused_before_they_are_all_read(
    lake: tuple[Path, str],
) -> None:
    huge = "SELECT repeat('x', 100000) AS s FROM range(10000)"  # 1 GB of text
    with _server(lake, max_rows=10_000, timeout_s=60, max_bytes=MIB) as client:
        started = time.monotonic()
        response = _ask(client, huge, ARROW)
        took = time.monotonic() - started
        small = _ask(client, "SELECT 1 AS one", ARROW)
    assert response.status_code == 400 and response.json()["error_code"] == "ANSWER_TOO_LARGE"
    assert took < 10, f"{took:.1f} s"
    assert pa.ipc.open_stream(small.content).read_all().num_rows == 1


def test_a_wide_select_under_the_text_cap_is_bounded_in_time(local: Local) -> None:
    """200,000 columns once took 39 s and 2.9 GB; the text cap keeps it under ~8,000."""
    from shoplake.share.audit import QUERY_CAP

    names = [f"1 AS c{i}" for i in range(1, 12_000)]
    query = "SELECT "
    for name in names:
        if len(query) + len(name) + 2 > QUERY_CAP:
            break
        query += name + ", "
    query = query.rstrip(", ")
    assert QUERY_CAP - 20 < len(query) <= QUERY_CAP and query.count(" AS ") > 8_000
    started = time.monotonic()
    response = local.sql("analyst", query)
    took = time.monotonic() - started
    assert response.status_code in (200, 400, 408), response.text[:300]
    assert took < 10, f"{took:.1f} s"


def test_a_body_over_the_cap_is_refused_from_its_length_and_audited(local: Local) -> None:
    from shoplake.share.limits import MAX_BODY_BYTES

    marker = "/api/shoplake/v1/sql"
    response = local.post(marker, "analyst", content=b" " * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error_code"] == "REQUEST_TOO_LARGE"
    rows = local.audit().filter(pl.col("status") == 413, pl.col("principal") == "analyst")
    assert rows.height >= 1 and not rows["allowed"].any()


def test_a_streamed_body_over_the_cap_is_refused(local: Local) -> None:
    from shoplake.share.limits import MAX_BODY_BYTES

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(MAX_BODY_BYTES // 65_536 + 2):
            yield b" " * 65_536

    response = local.post(SQL, "analyst", content=chunks())
    assert response.status_code == 413, response.text[:300]
    assert "larger than 1 MiB" in response.json()["message"]


def _raw(served: Served, head: str, body: bytes = b"") -> str:
    """The status line a real server answers to ``head`` and a partial ``body``, with the
    rest of the body never sent."""
    where = urlsplit(served.url)
    with socket.create_connection((where.hostname, where.port), timeout=15) as conn:
        conn.sendall(head.encode() + body)
        return conn.recv(4096).decode("latin-1").splitlines()[0]


def test_a_real_server_refuses_a_big_body_before_reading_it(served: Served) -> None:
    token = served.tokens["analyst"]
    head = (
        f"POST {SQL} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
    )
    # 50 MiB announced, none sent: refused from the header alone.
    assert " 413 " in _raw(served, head + f"Content-Length: {50 * MIB}\r\n\r\n")
    # Chunked, 1.1 MiB sent and the body never finished: refused while it streams.
    chunk = b"%x\r\n" % 65_536 + b" " * 65_536 + b"\r\n"
    streamed = head + "Transfer-Encoding: chunked\r\n\r\n"
    assert " 413 " in _raw(served, streamed, chunk * 18)


def test_every_value_encodes_and_a_nan_is_null_not_a_500(lake: tuple[Path, str]) -> None:
    """The faster encoder writes what FastAPI's did; NaN (a 500 before) is null."""
    query = (
        "SELECT 'nan'::DOUBLE AS nan, INTERVAL 90 MINUTE AS iv, (1 / 8)::DECIMAL(9, 3) AS d3, "
        "170141183460469231731687303715884105727::HUGEINT AS huge, "
        "TIMESTAMP '2024-01-01 01:02:03.5' AS ts, 'ab'::BLOB AS b, MAP {'k': 1} AS m"
    )
    with _server(lake, max_rows=10, timeout_s=30) as client:
        response = _ask(client, query)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["rows"] == [
        [
            None,
            [0, 0, 5_400_000_000_000],
            0.125,
            2**127 - 1,
            "2024-01-01T01:02:03.500000",
            "ab",
            [["k", 1]],
        ]
    ]
