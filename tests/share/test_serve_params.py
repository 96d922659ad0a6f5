"""Bad parameters are a 400 with a message (never a 500), and the audit log keeps a
query's whole text, its length and its hash."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest
from serve_harness import SQL, Local

from shoplake.share.audit import QUERY_CAP

UC = "/api/2.1/unity-catalog"
CREDENTIALS = f"{UC}/temporary-table-credentials"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"query": "SELECT 1", "max_rows": -1}, "max_rows"),
        ({"query": "SELECT 1", "max_rows": 0}, "max_rows"),
        ({"query": "SELECT 1", "max_rows": "many"}, "max_rows"),
        ({"query": "SELECT 1", "max_rows": 1.5}, "max_rows"),
        ({"query": ""}, "query"),
        ({"query": None}, "query"),
        ({"max_rows": 5}, "query"),
        ({}, "query"),
        ([], "send JSON"),
        (b"", "query"),
        (b"SELECT 1", "send JSON"),
        (b'{"query": "SELECT 1"', "send JSON"),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_a_bad_sql_request_is_a_400_that_says_what_is_wrong(
    local: Local, body: object, says: str
) -> None:
    if isinstance(body, bytes):
        response = local.post(SQL, "analyst", content=body)
    else:
        response = local.post(SQL, "analyst", json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert says in answer["message"] and "Traceback" not in answer["message"]


@pytest.mark.parametrize(
    "body",
    [b"", b"{}", b"not json", b"[]", b'{"table_id": 5}', b'{"operation": "READ"}'],
    ids=repr,
)
def test_a_bad_credentials_request_is_a_400_that_says_what_is_wrong(
    local: Local, body: bytes
) -> None:
    response = local.post(CREDENTIALS, "analyst", content=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "table_id" in answer["message"] and "operation" in answer["message"]


def test_bad_parameters_are_audited_as_refused(local: Local) -> None:
    response = local.sql("analyst", "SELECT 42 AS audited_bad_rows", max_rows=-1)
    assert response.status_code == 400
    rows = local.audited("SELECT 42 AS audited_bad_rows")
    assert rows.height == 1 and rows["status"].to_list() == [400]
    assert not rows["allowed"].any() and "max_rows" in rows["detail"][0]


def test_a_lone_surrogate_is_refused_and_still_audited(local: Local) -> None:
    """JSON can escape half a UTF-16 pair; the audit log must still write its row."""
    response = local.post(SQL, "analyst", content=b'{"query": "SELECT \'\\ud800\'"}')
    assert response.status_code == 400
    digest = hashlib.sha256("SELECT '\ud800'".encode("utf-8", "surrogatepass")).hexdigest()
    row = local.audit().filter(pl.col("query_sha256") == digest).row(0, named=True)
    assert row["status"] == 400 and row["query"] == "SELECT '\\ud800'"


def test_the_audit_keeps_a_padded_query_whole(local: Local) -> None:
    """Padding once pushed the WHERE clause past the 500 characters kept."""
    query = "SELECT count(*) FROM gold.fact_sales" + " " * 5_000 + "WHERE customer_id = 'C000001'"
    assert local.sql("analyst", query).status_code == 200
    row = local.audited(query).row(0, named=True)
    assert row["query"] == query and row["query"].endswith("WHERE customer_id = 'C000001'")
    assert row["query_chars"] == len(query)
    assert row["query_sha256"] == hashlib.sha256(query.encode()).hexdigest()
    assert row["allowed"] and row["tables"] == ["gold.fact_sales"]


def test_a_query_beyond_the_cap_is_refused_and_audited_with_its_length_and_hash(
    local: Local,
) -> None:
    query = "SELECT 1" + " " * QUERY_CAP + "WHERE false"
    response = local.sql("analyst", query)
    assert response.status_code == 400
    assert f"{QUERY_CAP:,}" in response.json()["message"]
    row = local.audited(query).row(0, named=True)
    assert not row["allowed"] and row["status"] == 400
    assert row["query_chars"] == len(query) and len(row["query"]) == QUERY_CAP
    assert row["query"] == query[:QUERY_CAP]


def test_other_actions_leave_the_query_columns_empty(local: Local) -> None:
    local.client.get(f"{UC}/catalogs", headers=local.headers("analyst"))
    audit = local.audit().filter(pl.col("action") == "list_catalogs")
    assert audit.height >= 1
    assert audit["query"].is_null().all() and audit["query_sha256"].is_null().all()


def test_a_server_bug_is_a_500_in_the_audit_log_without_a_traceback(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shoplake.share.app as served

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug with a secret path /srv/x")

    monkeypatch.setattr(served, "run_query", broken)
    response = local.sql("analyst", "SELECT 7 AS during_a_bug")
    assert response.status_code == 500
    assert "secret path" not in response.text and "Traceback" not in response.text
    row = local.audited("SELECT 7 AS during_a_bug").row(0, named=True)
    assert row["status"] == 500 and not row["allowed"]
