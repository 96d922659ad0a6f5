"""Listings page as Unity Catalog defines: ``max_results`` and ``page_token`` in,
``next_page_token`` out; with its own client and over plain HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

from serve_harness import Local, Served

UC = "/api/2.1/unity-catalog"


def _pages(local: Local, who: str, path: str, key: str, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    token = None
    while True:
        sent = {**params, **({"page_token": token} if token else {})}
        response = local.client.get(f"{UC}/{path}", params=sent, headers=local.headers(who))
        assert response.status_code == 200, response.text
        answer = response.json()
        pages.append([item["name"] for item in answer[key]])
        token = answer.get("next_page_token")
        if not token:
            return pages
        assert len(pages) < 100, "the pages never end"


def test_tables_page_through_every_table_once(local: Local) -> None:
    where = {"catalog_name": "shoplake", "schema_name": "gold"}
    (everything,) = _pages(local, "analyst", "tables", "tables", **where)
    assert len(everything) > 5
    pages = _pages(local, "analyst", "tables", "tables", **where, max_results=2)
    assert all(len(p) == 2 for p in pages[:-1]) and 1 <= len(pages[-1]) <= 2
    assert [name for p in pages for name in p] == sorted(everything)
    (server_sized,) = _pages(local, "analyst", "tables", "tables", **where, max_results=0)
    assert sorted(server_sized) == sorted(everything)  # fewer than the server's 50 a page


def test_schemas_and_catalogs_page_in_their_order(local: Local) -> None:
    (layers,) = _pages(local, "owner", "schemas", "schemas", catalog_name="shoplake")
    assert layers[:3] == ["bronze", "silver", "gold"]
    pages = _pages(local, "owner", "schemas", "schemas", catalog_name="shoplake", max_results=1)
    assert pages == [[layer] for layer in layers]
    assert _pages(local, "owner", "catalogs", "catalogs", max_results=1) == [["shoplake"]]


def test_a_page_token_continues_after_its_item(local: Local) -> None:
    where = {"catalog_name": "shoplake", "schema_name": "gold", "max_results": 1}
    first = local.client.get(f"{UC}/tables", params=where, headers=local.headers("analyst"))
    token = first.json()["next_page_token"]
    again = local.client.get(
        f"{UC}/tables", params={**where, "page_token": token}, headers=local.headers("analyst")
    )
    assert again.json()["tables"][0]["name"] > first.json()["tables"][0]["name"]


def test_unitycatalog_client_pages_through_tables_and_schemas(served: Served) -> None:
    from unitycatalog.client import ApiClient, Configuration, SchemasApi, TablesApi

    async def talk() -> tuple[list[list[str]], list[str], list[list[str]]]:
        conf = Configuration(host=f"{served.url}{UC}")
        bearer = f"Bearer {served.tokens['owner']}"
        async with ApiClient(conf, header_name="Authorization", header_value=bearer) as client:
            tables = TablesApi(client)
            whole = await tables.list_tables(catalog_name="shoplake", schema_name="gold")
            pages: list[list[str]] = []
            token: str | None = None
            while True:
                got = await tables.list_tables(
                    catalog_name="shoplake", schema_name="gold", max_results=3, page_token=token
                )
                pages.append([t.name for t in got.tables or []])
                token = got.next_page_token
                if not token:
                    break
            schemas = SchemasApi(client)
            layers: list[list[str]] = []
            token = None
            while True:
                found = await schemas.list_schemas(
                    catalog_name="shoplake", max_results=1, page_token=token
                )
                layers.append([s.name for s in found.schemas or []])
                token = found.next_page_token
                if not token:
                    break
            return pages, [t.name for t in whole.tables or []], layers

    pages, whole, layers = asyncio.run(talk())
    assert len(pages) > 1 and all(len(p) == 3 for p in pages[:-1])
    assert [name for p in pages for name in p] == sorted(whole)
    assert [layer for p in layers for layer in p][:3] == ["bronze", "silver", "gold"]
    assert all(len(p) == 1 for p in layers)
