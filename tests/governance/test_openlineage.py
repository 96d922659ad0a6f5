"""OpenLineage events of a demo run, received over HTTP and checked against the
OpenLineage JSON schema (vendored in ``openlineage_spec/``, spec 2-0-2 and its facets)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from typer.testing import CliRunner

from shoplake.cli import app

SPEC = Path(__file__).parent / "openlineage_spec"
runner = CliRunner()


class Receiver(ThreadingHTTPServer):
    events: list[dict[str, Any]]
    paths: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.events.append(json.loads(body))
        self.server.paths.append(self.path)
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), _Handler)
    server.events, server.paths = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _registry() -> tuple[Registry, dict[str, dict[str, Any]]]:
    schemas = {p.stem: json.loads(p.read_text()) for p in SPEC.glob("*.json")}
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    return registry, schemas


def _problems(event: dict[str, Any]) -> list[str]:
    """Every schema violation of the event and of each facet it carries."""
    registry, schemas = _registry()
    base = schemas["OpenLineage"]
    run_event = {"$ref": f"{base['$id']}#/$defs/RunEvent"}
    found = [
        e.message for e in Draft202012Validator(run_event, registry=registry).iter_errors(event)
    ]
    facets: list[dict[str, Any]] = [
        *event["run"]["facets"].values(),
        *event["job"]["facets"].values(),
    ]
    for dataset in (*event["inputs"], *event["outputs"]):
        facets += [*dataset.get("facets", {}).values(), *dataset.get("outputFacets", {}).values()]
    for facet in facets:
        url = facet["_schemaURL"]
        name = url.rsplit("/", 1)[1].split(".json")[0]
        if name not in schemas:
            continue  # a facet the client adds on its own (tags)
        assert url.startswith(schemas[name]["$id"]), f"{url} is not the vendored version"
        check = Draft202012Validator({"$ref": url}, registry=registry)
        found += [f"{name}: {e.message}" for e in check.iter_errors(facet)]
    return found


def _settings(folder: Path, url: str) -> None:
    (folder / "shoplake.toml").write_text(
        f'[lineage]\ntransport = "http"\nurl = "{url}"\nretries = 1\ntimeout = 2\n'
    )


def test_a_demo_run_sends_valid_events_with_column_lineage(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = receiver.server_address[:2]
    _settings(tmp_path, f"http://{host}:{port}")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path / "d"), "--orders", "200"])
    assert result.exit_code == 0, result.output
    events = receiver.events
    assert set(receiver.paths) == {"/api/v1/lineage"}
    for event in events:
        assert _problems(event) == [], event["job"]["name"]

    pipeline_run = [e for e in events if e["job"]["name"] == "ecommerce"]
    assert [e["eventType"] for e in pipeline_run] == ["START", "COMPLETE"]
    flows = {e["job"]["name"] for e in events} - {"ecommerce"}
    assert "ecommerce.gold.monthly_revenue" in flows and "ecommerce.bronze.orders" in flows
    for name in flows:
        states = [e["eventType"] for e in events if e["job"]["name"] == name]
        assert states == ["START", "COMPLETE"], name
    parent = pipeline_run[0]["run"]["runId"]
    assert all(
        e["run"]["facets"]["parent"]["run"]["runId"] == parent
        for e in events
        if e["job"]["name"] != "ecommerce"
    )

    done = next(
        e
        for e in events
        if e["job"]["name"] == "ecommerce.gold.monthly_revenue" and e["eventType"] == "COMPLETE"
    )
    lake_uri = (tmp_path / "d" / "lake").resolve().as_uri()
    assert {(i["namespace"], i["name"]) for i in done["inputs"]} == {
        (lake_uri, "silver.orders"),
        (lake_uri, "silver.order_items"),
    }
    output = done["outputs"][0]
    assert (output["namespace"], output["name"]) == (lake_uri, "gold.monthly_revenue")
    revenue = output["facets"]["columnLineage"]["fields"]["revenue"]["inputFields"]
    named = {f"{f['name']}.{f['field']}" for f in revenue}
    assert {"silver.order_items.line_amount", "silver.orders.status"} <= named
    assert output["outputFacets"]["outputStatistics"]["rowCount"] > 0
    assert {f["name"] for f in output["facets"]["schema"]["fields"]} >= {"month", "revenue"}
    assertions = output["facets"]["dataQualityAssertions"]["assertions"]
    assert [(a["assertion"], a["success"]) for a in assertions] == [("one_row_per_month", True)]

    orders = next(
        e
        for e in events
        if e["job"]["name"] == "ecommerce.silver.orders" and e["eventType"] == "COMPLETE"
    )
    rules = {
        a["assertion"]
        for a in orders["outputs"][0]["facets"]["dataQualityAssertions"]["assertions"]
    }
    assert {"valid_order_date", "customer_exists"} <= rules  # one per expectation


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_dead_endpoint_never_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path / "d"), "--orders", "100"])
    assert result.exit_code == 0, result.output
    note = next(ln for ln in result.output.splitlines() if ln.startswith("lineage:"))
    assert "OpenLineage event(s) not delivered" in note and "ConnectionError" in note


def test_lineage_is_off_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path / "d"), "--orders", "50"])
    assert result.exit_code == 0, result.output
    assert not any(ln.startswith("lineage:") for ln in result.output.splitlines())
    assert not (tmp_path / "lineage.jsonl").exists()


def test_a_failed_flow_sends_fail_with_its_error_and_aborts_downstream(tmp_path: Path) -> None:
    import narwhals as nw
    from governed_shop import CUSTOMERS, ORDERS

    from shoplake import Pipeline, expect
    from shoplake.governance.openlineage import LineageEmitter
    from shoplake.governance.settings import LineageSettings
    from shoplake.testing import TempLake

    p = Pipeline("failing")
    p.source("orders", format="csv", columns=["order_id", "customer_id", "amount"])
    p.source("customers", format="csv", columns=["customer_id", "name", "email"])

    @p.table(
        layer="silver",
        expectations=[expect("small", nw.col("amount").cast(nw.Float64) < 5, action="fail")],
    )
    def orders(bronze_orders: Any) -> Any:
        """Orders under 5."""
        return bronze_orders.select("order_id", "amount")

    @p.table(layer="gold")
    def total(silver_orders: Any) -> Any:
        return silver_orders.select(nw.col("amount").cast(nw.Float64).sum())

    events_file = tmp_path / "events.jsonl"
    settings = LineageSettings(transport="file", file=str(events_file))
    with TempLake(p, root=tmp_path / "lake") as lake:
        lake.land("orders", ORDERS)
        lake.land("customers", CUSTOMERS)
        emitter = LineageEmitter.from_settings(lake.engine, p.name, settings)
        assert lake.run(listener=emitter).status == "failed"
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    for event in events:
        assert _problems(event) == [], event["job"]["name"]
    states = {(e["job"]["name"], e["eventType"]) for e in events}
    assert ("failing.silver.orders", "FAIL") in states
    assert ("failing.gold.total", "ABORT") in states
    assert ("failing", "FAIL") in states
    failed = next(e for e in events if e["eventType"] == "FAIL" and e["job"]["name"] == "failing")
    assert "silver.orders" in failed["run"]["facets"]["errorMessage"]["message"]
    assert emitter.undelivered == 0 and emitter.sent == len(events)
