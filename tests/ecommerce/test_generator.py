"""Tests of the data generator against docs/data-contract.md.

The manifest's expected counts are checked against `silver_outcomes`, an independent
re-implementation of the contract's silver rules over the files actually written.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from shoplake.ecommerce.generator import GenerationReport, generate, read_manifest, simulation

SOURCES = ("regions", "customers", "products", "orders", "order_items", "returns")
COLUMNS = {
    "regions": ["region_id", "region_name", "country"],
    "customers": ["customer_id", "first_name", "last_name", "email", "phone", "city", "state",
                  "country", "region_id", "signup_date", "updated_at"],
    "products": ["product_id", "name", "category", "brand", "price", "cost", "active",
                 "updated_at"],
    "orders": ["order_id", "customer_id", "order_date", "status", "channel", "payment_method",
               "total_amount", "currency", "updated_at"],
    "order_items": ["order_id", "line_number", "product_id", "quantity", "unit_price",
                    "discount"],
    "returns": ["return_id", "order_id", "product_id", "customer_id", "return_date", "reason",
                "refund_amount"],
}
ID_COLUMNS = {
    "customers": {"customer_id": "C"},
    "products": {"product_id": "P"},
    "orders": {"order_id": "O", "customer_id": "C"},
    "order_items": {"order_id": "O", "product_id": "P"},
    "returns": {"order_id": "O", "product_id": "P", "customer_id": "C"},
}
TS_COLUMNS = {
    "customers": ["updated_at"],
    "products": ["updated_at"],
    "orders": ["order_date", "updated_at"],
    "returns": ["return_date"],
}
CANONICAL = {"C": r"C\d{6}", "P": r"P\d{5}", "O": r"O\d{8}"}
TS_PATTERNS = {
    "iso": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d",
    "space": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
    "zulu": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
    "us": r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d",
    "eu": r"\d\d\.\d\d\.\d{4} \d\d:\d\d",
    "epoch": r"\d{9,11}",
}
DATE_PATTERNS = {"iso": r"\d{4}-\d\d-\d\d", "us": r"\d\d/\d\d/\d{4}", "eu": r"\d\d\.\d\d\.\d{4}"}
TS_PARSE = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ",
            "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M")
MALFORMED = object()


# --- reading the landing files --------------------------------------------------------


def data_files(landing: Path, source: str) -> list[Path]:
    return sorted((landing / source).iterdir())


def read_rows(landing: Path, source: str) -> Iterator[tuple[Path, Any]]:
    """(file, row) for every data row: a dict, or MALFORMED for an unparseable line."""
    columns = COLUMNS[source]
    for path in data_files(landing, source):
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as handle:
                reader = csv.reader(handle)
                assert next(reader) == columns
                for values in reader:
                    yield path, (dict(zip(columns, values, strict=True))
                                 if len(values) == len(columns) else MALFORMED)
        else:
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    yield path, json.loads(line)
                except json.JSONDecodeError:
                    yield path, MALFORMED


def data_lines(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").count("\n")
    return lines - 1 if path.suffix == ".csv" else lines


# --- the contract's silver rules, re-implemented ----------------------------------------


def std_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    match = re.fullmatch(r"(?:[A-Za-z]+-?)?0*(\d+)", str(value))
    assert match, f"unreadable id {value!r}"
    return int(match.group(1))


def parse_ts(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text), tz=UTC).replace(tzinfo=None)
    for fmt in TS_PARSE:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


@dataclass
class Outcome:
    silver: dict[Any, list[dict[str, Any]]] = field(default_factory=dict)
    rows: int = 0
    rules: Counter[str] = field(default_factory=Counter)

    @property
    def duplicates(self) -> int:
        kept = sum(len(versions) for versions in self.silver.values())
        return kept - len(self.silver)


def silver_outcomes(landing: Path) -> dict[str, Outcome]:
    """Quarantine rows failing a rule (the first in contract order), then keep one row per
    key (the latest `updated_at`); reference rules look at the parent's silver keys."""
    results: dict[str, Outcome] = {}

    def key_of(source: str, row: dict[str, Any]) -> Any:
        if source == "regions":
            return row["region_id"]
        if source == "order_items":
            return std_id(row["order_id"]), int(row["line_number"])
        return std_id(row[COLUMNS[source][0]]) if source != "returns" else row["return_id"]

    def check(source: str, row: Any) -> str | None:
        if row is MALFORMED:
            return "well_formed"
        not_null = {"customers": ["customer_id"], "products": ["product_id"],
                    "orders": ["order_id", "customer_id"],
                    "order_items": ["order_id", "product_id"],
                    "returns": ["return_id", "order_id"]}.get(source, [])
        for column in not_null:
            if row[column] in (None, ""):
                return f"{column}_not_null"
        if source == "orders":
            placed = parse_ts(row["order_date"])
            if placed is None or placed.year >= 2099:
                return "valid_order_date"
            if std_id(row["customer_id"]) not in results["customers"].silver:
                return "customer_exists"
        if source == "products" and float(row["price"]) <= 0:
            return "positive_price"
        if source == "order_items":
            if int(row["quantity"]) <= 0:
                return "positive_quantity"
            if float(row["unit_price"]) <= 0:
                return "positive_price"
        if source in ("order_items", "returns") and \
                std_id(row["order_id"]) not in results["orders"].silver:
            return "order_exists"
        if source == "order_items" and std_id(row["product_id"]) not in results["products"].silver:
            return "product_exists"
        return None

    for source in SOURCES:
        outcome = Outcome()
        for _, row in read_rows(landing, source):
            outcome.rows += 1
            rule = check(source, row)
            if rule:
                outcome.rules[rule] += 1
            else:
                outcome.silver.setdefault(key_of(source, row), []).append(row)
        results[source] = outcome
    return results


def assert_manifest_matches(landing: Path) -> dict[str, Outcome]:
    manifest = read_manifest(landing)
    outcomes = silver_outcomes(landing)
    for source in SOURCES:
        entry, outcome = manifest["sources"][source], outcomes[source]
        expected = entry["expected"]
        assert entry["rows"] == outcome.rows, source
        assert entry["rows"] == sum(data_lines(landing / f) for f in entry["files"]), source
        assert entry["rows"] == expected["silver"] + expected["duplicates"] + \
            expected["quarantined"], source
        assert expected["quarantined"] == sum(expected["rules"].values()), source
        assert expected["silver"] == len(outcome.silver), source
        assert expected["duplicates"] == outcome.duplicates, source
        assert {r: n for r, n in expected["rules"].items() if n} == dict(outcome.rules), source
    return outcomes


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    landing = tmp_path_factory.mktemp("default")
    return landing, generate(landing)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    landing = tmp_path_factory.mktemp("clean")
    return landing, generate(landing, defect_rate=0.0, orders=3_000, seed=3)


@pytest.fixture(scope="module")
def dirty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    """A high defect rate, small files, and orders simulated 300 at a time, so that rows
    held back for later (late versions, duplicates) cross batch and file boundaries."""
    landing = tmp_path_factory.mktemp("dirty")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(simulation, "ORDER_BATCH", 300)
        report = generate(landing, orders=2_000, defect_rate=0.2, chunk_rows=700, seed=11)
    return landing, report


# --- tests ---------------------------------------------------------------------------


def test_default_sizes(default_run: tuple[Path, GenerationReport]) -> None:
    _, report = default_run
    expected = {name: s.expected for name, s in report.sources.items()}
    assert expected["customers"].silver == 500
    assert expected["products"].silver == 100
    assert expected["regions"].silver == 10
    assert report.rows["orders"] >= 1_000
    # Every order is written at least once; a quarantined one only once.
    assert expected["orders"].silver + expected["orders"].quarantined == 1_000
    assert report.rows["order_items"] >= 2_000
    assert 0.01 < report.rows["returns"] / report.rows["order_items"] < 0.08
    manifest = read_manifest(report.landing)
    assert manifest["generator"] == {"orders": 1000, "seed": 42, "defect_rate": 0.03,
                                     "chunk_rows": 100_000, "start_date": "2024-11-01",
                                     "end_date": "2026-10-31"}


def test_clean_data_sizes_are_exact(clean_run: tuple[Path, GenerationReport]) -> None:
    landing, report = clean_run
    assert report.rows["customers"] == 600
    assert report.rows["products"] == 100
    assert report.rows["orders"] == 3_000
    assert 2.0 < report.rows["order_items"] / 3_000 < 2.4
    for source in SOURCES:
        assert report.sources[source].expected.silver == report.rows[source]
        assert len(data_files(landing, source)) == 1


def test_manifest_matches_the_files_default(default_run: tuple[Path, GenerationReport]) -> None:
    assert_manifest_matches(default_run[0])


def test_manifest_matches_the_files_high_defect_rate(
        dirty_run: tuple[Path, GenerationReport]) -> None:
    outcomes = assert_manifest_matches(dirty_run[0])
    # The latest version of every key is unambiguous: tied rows are exact copies.
    for source in ("customers", "products", "orders"):
        for versions in outcomes[source].silver.values():
            stamps = [parse_ts(v["updated_at"]) for v in versions]
            assert all(s is not None for s in stamps), source
            latest = max(s for s in stamps if s is not None)
            winners = {json.dumps({k: v for k, v in row.items() if k not in (
                COLUMNS[source][0], "customer_id", "order_date", "updated_at", "coupon_code",
                "signup_date")}, sort_keys=True)
                for row, s in zip(versions, stamps, strict=True) if s == latest}
            assert len(winners) == 1, (source, versions)


def test_deterministic(tmp_path: Path) -> None:
    generate(tmp_path / "a", orders=1_500, seed=5, chunk_rows=800)
    generate(tmp_path / "b", orders=1_500, seed=5, chunk_rows=800)
    generate(tmp_path / "c", orders=1_500, seed=6, chunk_rows=800)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*"))
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    for name in ("customers/customers-00001.csv", "orders/orders-00001.jsonl",
                 "order_items/order_items-00001.csv", "_generator/manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()


def test_zero_defect_rate_gives_clean_data(clean_run: tuple[Path, GenerationReport]) -> None:
    landing, report = clean_run
    for source in SOURCES:
        exp = report.sources[source].expected
        assert (exp.duplicates, exp.quarantined) == (0, 0), source
        assert report.sources[source].injected == {}, source
        assert not any("updates" in f for f in report.sources[source].files)
        keys: set[Any] = set()
        for _, row in read_rows(landing, source):
            assert row is not MALFORMED, source
            assert set(row) == set(COLUMNS[source]), source
            for column, prefix in ID_COLUMNS.get(source, {}).items():
                assert re.fullmatch(CANONICAL[prefix], row[column]), (source, row)
            for column in TS_COLUMNS.get(source, []):
                assert isinstance(row[column], str), (source, row)
                assert re.fullmatch(TS_PATTERNS["iso"], row[column]), (source, row)
            if source == "customers":
                assert re.fullmatch(DATE_PATTERNS["iso"], row["signup_date"])
                assert re.fullmatch(r"[a-z0-9.-]+@[a-z0-9.-]+\.[a-z]+", row["email"]), row
                assert re.fullmatch(r"\+\d+[\d -]{7,}", row["phone"]), row
            key = tuple(row[c] for c in {"order_items": ["order_id", "line_number"]}.get(
                source, [COLUMNS[source][0]]))
            assert key not in keys, (source, key)
            keys.add(key)
    assert_manifest_matches(landing)


def test_every_defect_kind_appears(dirty_run: tuple[Path, GenerationReport]) -> None:
    landing, report = dirty_run
    for source in SOURCES:
        exp = report.sources[source].expected
        assert exp.duplicates > 0, source
        assert all(n > 0 for n in exp.rules.values()), (source, exp.rules)
    assert set(report.sources["orders"].expected.rules) == {
        "well_formed", "order_id_not_null", "customer_id_not_null", "valid_order_date",
        "customer_exists"}
    assert set(report.sources["order_items"].expected.rules) == {
        "well_formed", "order_id_not_null", "product_id_not_null", "positive_quantity",
        "positive_price", "order_exists", "product_exists"}
    injected = {s: report.sources[s].injected for s in SOURCES}
    for kind in ("invalid_email", "invalid_phone", "older_version", "update", "exact_duplicate"):
        assert injected["customers"].get(kind, 0) > 0, kind
    for kind in ("older_version", "update", "non_positive_price_update"):
        assert injected["products"].get(kind, 0) > 0, kind
    for kind in ("out_of_order", "status_history", "impossible_order_date",
                 "future_order_date"):
        assert injected["orders"].get(kind, 0) > 0, kind
    assert injected["returns"].get("filed_twice", 0) > 0

    id_forms: dict[str, Counter[str]] = defaultdict(Counter)
    ts_forms: Counter[str] = Counter()
    date_forms: Counter[str] = Counter()
    malformed: Counter[str] = Counter()
    drift_files: dict[str, bool] = {}
    for source in SOURCES:
        for path, row in read_rows(landing, source):
            if row is MALFORMED:
                malformed[source] += 1
                continue
            if source == "orders":
                drift_files.setdefault(path.name, "coupon_code" in row)
                assert ("coupon_code" in row) == drift_files[path.name], path.name
            for column, prefix in ID_COLUMNS.get(source, {}).items():
                value = row[column]
                if value in (None, ""):
                    continue
                form = "canonical" if re.fullmatch(CANONICAL[prefix], value) else \
                    "dashed" if re.fullmatch(prefix.lower() + r"-\d+", value) else \
                    "bare" if value.isdigit() else "other"
                id_forms[prefix][form] += 1
            for column in TS_COLUMNS.get(source, []):
                text = str(row[column])
                forms = [f for f, p in TS_PATTERNS.items() if re.fullmatch(p, text)]
                ts_forms[forms[0] if forms else "other"] += 1
            if source == "customers":
                date_forms.update(f for f, p in DATE_PATTERNS.items()
                                  if re.fullmatch(p, row["signup_date"]))
    for prefix in ("C", "P", "O"):
        assert set(id_forms[prefix]) == {"canonical", "dashed", "bare"}, id_forms[prefix]
    assert set(TS_PATTERNS) <= set(ts_forms), ts_forms
    assert ts_forms.most_common(1)[0][0] == "iso"
    assert set(date_forms) == set(DATE_PATTERNS)
    assert set(malformed) == {"customers", "orders", "order_items", "returns"}
    # Schema drift: no coupon_code in the first orders file, in every later one.
    assert drift_files.pop("orders-00001.jsonl") is False
    assert drift_files and all(drift_files.values())
    # Exact duplicates in every source: some data line appears twice verbatim.
    for source in SOURCES:
        lines = Counter(line for f in report.sources[source].files
                        for line in (landing / f).read_text(encoding="utf-8").splitlines()[
                            (1 if f.endswith(".csv") else 0):])
        assert lines.most_common(1)[0][1] >= 2, source


def test_chunking_writes_several_files(dirty_run: tuple[Path, GenerationReport]) -> None:
    landing, report = dirty_run
    assert len([f for f in report.files["orders"] if "updates" not in f]) >= 3
    assert len(report.files["order_items"]) >= 6
    assert any("updates" in f for f in report.files["customers"])
    assert any("updates" in f for f in report.files["products"])
    for files in report.files.values():
        for name in files:
            assert 0 < data_lines(landing / name) <= 700, name
    names = [p.name for p in data_files(landing, "order_items")]
    assert names[:3] == ["order_items-00001.csv", "order_items-00002.csv",
                         "order_items-00003.csv"]


def test_progress_reports_rows(tmp_path: Path) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    report = generate(tmp_path, orders=1_000, chunk_rows=400,
                      progress=lambda source, rows: seen[source].append(rows))
    assert set(seen) == set(SOURCES)
    for source, counts in seen.items():
        assert counts == sorted(counts), source
        assert counts[-1] == report.rows[source], source


def test_refuses_a_used_landing_folder(tmp_path: Path) -> None:
    generate(tmp_path, orders=10, defect_rate=0.0)
    with pytest.raises(FileExistsError):
        generate(tmp_path, orders=10)
    with pytest.raises(ValueError):
        generate(tmp_path / "other", orders=0)


def test_realistic_distributions(clean_run: tuple[Path, GenerationReport]) -> None:
    landing, _ = clean_run
    orders = [row for _, row in read_rows(landing, "orders")]
    placed = [datetime.strptime(o["order_date"], TS_PARSE[0]) for o in orders]
    assert min(placed) >= datetime(2024, 11, 1) and max(placed) < datetime(2026, 11, 1)
    per_month = Counter((p.year, p.month) for p in placed)
    assert per_month[(2025, 12)] > 1.4 * per_month[(2025, 2)]
    assert per_month[(2026, 3)] > per_month[(2025, 3)]  # growth
    weekend = sum(p.weekday() >= 5 for p in placed) / 2
    weekday = sum(p.weekday() < 5 for p in placed) / 5
    assert weekend > 1.1 * weekday
    hours = Counter(p.hour for p in placed)
    assert hours[20] > 3 * hours[3]
    statuses = Counter(o["status"] for o in orders)
    assert statuses["delivered"] > 0.7 * len(orders)
    assert {"cancelled", "returned", "shipped"} <= set(statuses)
    recent = [o for o, p in zip(orders, placed, strict=True) if p >= datetime(2026, 10, 31)]
    assert all(o["status"] in ("pending", "processing", "shipped", "cancelled") for o in recent)
    assert all(o["status"] not in ("pending", "processing")
               for o, p in zip(orders, placed, strict=True) if p < datetime(2026, 10, 1))

    buyers = Counter(o["customer_id"] for o in orders)
    top = sum(n for _, n in buyers.most_common(len(buyers) // 10))
    assert top > 0.25 * len(orders)  # repeat customers
    lines = [row for _, row in read_rows(landing, "order_items")]
    popular = Counter(line["product_id"] for line in lines)
    assert sum(n for _, n in popular.most_common(10)) > 0.3 * len(lines)  # long tail

    bands = {"Electronics": (50, 2000), "Home & Kitchen": (15, 500), "Fashion": (10, 300),
             "Sports & Outdoors": (15, 800), "Beauty": (5, 150)}
    for _, product in read_rows(landing, "products"):
        low, high = bands[product["category"]]
        price, cost = float(product["price"]), float(product["cost"])
        assert low <= price <= high, product
        assert 0.39 * price <= cost <= 0.81 * price, product

    totals = defaultdict(float)
    for line in lines:
        totals[line["order_id"]] += round(int(line["quantity"]) * float(line["unit_price"]) *
                                          (1 - float(line["discount"])), 2)
    for order in orders:
        assert order["total_amount"] == pytest.approx(totals[order["order_id"]], abs=0.011)


def test_end_date_moves_the_window(tmp_path: Path) -> None:
    report = generate(tmp_path, orders=200, defect_rate=0.0, end_date=date(2025, 3, 15))
    assert report.start_date == date(2023, 3, 16)
    placed = [datetime.strptime(row["order_date"], TS_PARSE[0])
              for _, row in read_rows(tmp_path, "orders")]
    assert min(placed) >= datetime(2023, 3, 16) and max(placed) < datetime(2025, 3, 16)
