"""What the sharing tests get: a real server's URL, its lake, the tokens it knows; or the
same app in this process (faster, and its working folder is the test's to plant files in)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import polars as pl

SQL = "/api/shoplake/v1/sql"


@dataclass
class Served:
    url: str
    lake: Path
    tokens: dict[str, str]  # name -> token
    log: Path

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@dataclass
class Local:
    """``create_app`` behind FastAPI's TestClient, over a lake of its own."""

    client: Any  # fastapi.testclient.TestClient
    app: Any  # fastapi.FastAPI
    lake: Path
    tokens: dict[str, str]
    workdir: Path
    """A folder with ``.tmp/planted.csv`` and ``.tmp/planted.parquet`` holding
    :data:`PLANTED`, where DuckDB's default temp folder would be."""

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def sql(self, who: str, query: str, **extra: object) -> httpx.Response:
        response: httpx.Response = self.client.post(
            SQL, json={"query": query, **extra}, headers=self.headers(who)
        )
        return response

    def post(self, path: str, who: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self.client.post(path, headers=self.headers(who), **kwargs)
        return response

    def audit(self) -> pl.DataFrame:
        """``_system.audit`` once every buffered row is written."""
        self.app.state.shoplake.audit.flush()
        return pl.read_delta(str(self.lake / "_system" / "audit"))

    def audited(self, query: str) -> pl.DataFrame:
        """The audit rows of SQL requests that sent exactly ``query``."""
        digest = hashlib.sha256(query.encode()).hexdigest()
        return self.audit().filter(pl.col("query_sha256") == digest)


PLANTED = "planted-secret-7f3a"
