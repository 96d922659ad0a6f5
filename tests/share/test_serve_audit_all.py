"""Every request is audited, whatever its route or fate (404, 405, /health, a bug outside
any endpoint), and bad input is a 400 with a message, never a 500."""

from __future__ import annotations

import uuid

import polars as pl
import pytest
from serve_harness import SQL, Local

UC = "/api/2.1/unity-catalog"


def _rows(local: Local, marker: str) -> pl.DataFrame:
    return local.audit().filter(pl.col("detail").str.contains(marker, literal=True))


def test_an_unknown_route_is_a_404_in_the_error_shape_and_audited(local: Local) -> None:
    marker = f"/nowhere-{uuid.uuid4().hex}"
    response = local.client.get(marker, headers=local.headers("analyst"))
    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"
    anonymous = local.client.get(marker + "-anon")
    assert anonymous.status_code == 404
    rows = _rows(local, marker).sort("principal")
    assert rows["principal"].to_list() == ["analyst", "anonymous"]
    assert set(rows["status"]) == {404} and set(rows["action"]) == {"unknown_route"}
    assert not rows["allowed"].any()


def test_a_wrong_method_is_a_405_and_audited(local: Local) -> None:
    response = local.client.delete(f"{UC}/catalogs", headers=local.headers("owner"))
    assert response.status_code == 405 and response.headers["allow"] == "GET"
    assert response.json()["error_code"] == "METHOD_NOT_ALLOWED"
    rows = local.audit().filter(pl.col("action") == "method_not_allowed")
    assert rows.filter(pl.col("principal") == "owner", pl.col("status") == 405).height >= 1
    assert rows["detail"].str.starts_with(f"DELETE {UC}/catalogs").any()


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_no_api_document_is_served_and_asking_is_audited(local: Local, path: str) -> None:
    response = local.client.get(path)
    assert response.status_code == 404
    rows = local.audit().filter(pl.col("detail") == f"GET {path}")
    assert rows.height >= 1 and set(rows["principal"]) == {"anonymous"}


def test_health_is_audited(local: Local) -> None:
    assert local.client.get("/health").json() == {"status": "ok"}
    rows = local.audit().filter(pl.col("action") == "health")
    assert rows.height >= 1 and rows["allowed"].all()


def test_a_token_in_a_path_is_not_kept(local: Local) -> None:
    token = local.tokens["analyst"]
    assert local.client.get(f"/{token}").status_code == 404
    secret = token.split("_", 2)[2]
    audit = local.audit()
    assert not audit["detail"].str.contains(secret, literal=True).any()
    assert audit["detail"].str.contains("GET /slk_…", literal=True).any()


def test_a_bug_outside_any_endpoint_is_a_500_and_audited(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    access = local.app.state.shoplake.access
    marker = f"/api/2.1/unity-catalog/catalogs/{uuid.uuid4().hex[:12]}"

    def broken(token: str | None) -> None:
        raise RuntimeError("a bug with a secret path /srv/x")

    monkeypatch.setattr(access, "authenticate", broken)
    response = local.client.get(marker, headers=local.headers("analyst"))
    assert response.status_code == 500
    assert response.json()["error_code"] == "INTERNAL_ERROR"
    assert "secret path" not in response.text
    monkeypatch.undo()
    rows = _rows(local, marker)
    assert rows["status"].to_list() == [500] and not rows["allowed"].any()


@pytest.mark.parametrize(
    ("path", "says"),
    [
        (f"{UC}/tables?catalog_name=shoplake&schema_name=gold&max_results=many", "max_results"),
        (f"{UC}/tables?catalog_name=shoplake&schema_name=gold&max_results=-1", "max_results"),
        (f"{UC}/schemas?catalog_name=shoplake&max_results=1.5", "max_results"),
        (f"{UC}/catalogs?max_results=99999999999999999999x", "max_results"),
        (f"{UC}/tables?catalog_name=shoplake&schema_name=gold&page_token=bm9wZQ", "page_token"),
        (f"{UC}/schemas?catalog_name=shoplake&page_token=%00%ff", "page_token"),
        (f"{UC}/tables?catalog_name=shoplake", "schema"),
    ],
)
def test_bad_parameters_are_a_400_with_a_message(local: Local, path: str, says: str) -> None:
    response = local.client.get(path, headers=local.headers("analyst"))
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE" and says in answer["message"]


@pytest.mark.parametrize(
    "body",
    [b"[" * 200_000, b'{"query": ' + b"[" * 100_000, b"\xff\xfe{}", b'{"query": "\\ud800'],
    ids=["deep-array", "deep-query", "not-utf8", "cut-escape"],
)
def test_a_pathological_body_is_a_400(local: Local, body: bytes) -> None:
    response = local.post(SQL, "analyst", content=body)
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_a_bad_content_length_is_a_400(local: Local) -> None:
    response = local.client.post(
        SQL, content=b"{}", headers={**local.headers("analyst"), "Content-Length": "two"}
    )
    assert response.status_code == 400
