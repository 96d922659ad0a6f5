"""The cleaning expressions and silver functions, on Polars and on DuckDB (via narwhals).

Every input is bronze-shaped: every column is text. Each test runs on both backends
and expects the same, exact values; ``test_backends_agree_*`` compares them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from backends import BACKENDS, Backend
from shoplake.ecommerce import silver
from shoplake.ecommerce.cleaning import (
    canonical_id,
    to_bool,
    to_float,
    to_int,
    valid_email,
    valid_phone,
    well_formed,
    with_timestamp,
)

Data = dict[str, list[Any]]
MakeFrame = Callable[[Data], nw.LazyFrame]


def make_frame(backend: Backend, data: Data) -> nw.LazyFrame:
    return backend.lazy(pl.DataFrame(data, schema=dict.fromkeys(data, pl.String)))  # type: ignore[no-any-return]


@pytest.fixture
def frame(backend: Backend) -> MakeFrame:
    """``frame(data)``: a lazy narwhals frame of text columns on the backend under test."""
    return lambda data: make_frame(backend, data)


def collect(frame: nw.LazyFrame) -> pl.DataFrame:
    return frame.collect(backend="polars").to_native()


def column(frame: nw.LazyFrame, name: str) -> list[Any]:
    return collect(frame).get_column(name).to_list()


def lineage(n: int, name: str = "src") -> Data:
    return {
        "_rescued_data": [None] * n,
        "_source": [f"{name}/{name}-00001.csv:{i + 2}" for i in range(n)],
        "_batch_id": ["batch-1"] * n,
    }


# --- timestamps ---------------------------------------------------------------------------

TS = datetime(2024, 3, 15, 14, 22, 5)
TIMESTAMPS = [
    ("2024-03-15T14:22:05", TS),
    ("2024-03-15 14:22:05", TS),
    ("2024-03-15T14:22:05Z", TS),
    ("03/15/2024 14:22:05", TS),
    ("15.03.2024 14:22", datetime(2024, 3, 15, 14, 22)),
    ("1710512525", TS),
    ("999999999", datetime(2001, 9, 9, 1, 46, 39)),  # nine-digit epoch
    ("2024-03-15", datetime(2024, 3, 15)),
    ("03/15/2024", datetime(2024, 3, 15)),
    ("15.03.2024", datetime(2024, 3, 15)),
    (" 2024-03-15T14:22:05 ", TS),
    ("2024-02-29T23:59:59", datetime(2024, 2, 29, 23, 59, 59)),  # leap day
    ("29.02.2024 08:30", datetime(2024, 2, 29, 8, 30)),
    ("02/29/2000 00:00:00", datetime(2000, 2, 29)),  # divisible by 400: leap
    ("1709164800", datetime(2024, 2, 29)),  # epoch of a leap day
    ("2099-01-01T00:00:00", datetime(2099, 1, 1)),  # future but real: rules decide
]
IMPOSSIBLE = [
    "2024-02-30 10:00:00",  # Feb 30
    "2023-02-29T00:00:00",  # Feb 29 of a non-leap year
    "1900-02-29T00:00:00",  # divisible by 100, not by 400
    "02/29/2023 10:00:00",
    "2024-13-01T00:00:00",  # month 13
    "13/01/2024 10:00:00",  # US month 13
    "15.13.2024 10:00",  # European month 13
    "31.04.2024 10:00",  # April 31
    "2024-00-10",  # month 0
    "2024-03-00",  # day 0
    "2024-03-15T24:00:00",
    "2024-03-15T23:60:00",
    "2024-03-15T23:59:60",
    "0999-01-01T00:00:00",
    "12345678901",  # eleven digits is not an epoch the feeds use
    "0",
    "garbage",
    "2024/03/15",
    "",
    None,
]


def test_every_timestamp_format_of_the_contract(frame: MakeFrame) -> None:
    raw = [r for r, _ in TIMESTAMPS]
    parsed = with_timestamp(frame({"ts": raw}), "ts")
    out = collect(parsed)
    assert out.schema == pl.Schema({"ts": pl.Datetime("us")})
    assert out.get_column("ts").to_list() == [t for _, t in TIMESTAMPS]


def test_impossible_or_malformed_timestamps_become_null(frame: MakeFrame) -> None:
    assert column(with_timestamp(frame({"ts": IMPOSSIBLE}), "ts"), "ts") == [None] * len(
        IMPOSSIBLE
    )


def test_with_timestamp_alias_keeps_the_raw_column_and_no_helpers(frame: MakeFrame) -> None:
    out = collect(with_timestamp(frame({"id": ["a", "b"], "raw": ["1710512525", "x"]}), "raw",
                                 alias="at"))
    assert out.columns == ["id", "raw", "at"]
    assert out.rows() == [("a", "1710512525", TS), ("b", "x", None)]


# --- ids, numbers, flags, contact details -------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "width", "raw", "expected"),
    [
        ("C", 6, ["C000123", "c-123", "123", " C000123 ", "C-123", "c123", "C000000"],
         ["C000123"] * 6 + ["C000000"]),
        ("P", 5, ["P00042", "p-42", "42", "99999"], ["P00042"] * 3 + ["P99999"]),
        ("O", 8, ["O00000001", "o-1", "1", "12345678"],
         ["O00000001"] * 3 + ["O12345678"]),
        ("R", 2, ["R01", "r-1", "1", "10"], ["R01"] * 3 + ["R10"]),
    ],
    ids=["customer", "product", "order", "region"],
)
def test_canonical_id_variants(
    frame: MakeFrame, prefix: str, width: int, raw: list[str], expected: list[str]
) -> None:
    assert column(frame({"id": raw}).select(canonical_id("id", prefix, width)), "id") == expected


def test_canonical_id_rejects_what_is_not_an_id(frame: MakeFrame) -> None:
    raw = ["C1234567", "1234567", "X123", "P00042", "C12a", "c--1", "C 123", "", None]
    out = column(frame({"id": raw}).select(canonical_id("id", "C", 6)), "id")
    assert out == [None] * len(raw)


def test_to_int_and_to_float(frame: MakeFrame) -> None:
    raw = ["3", "3.0", "-2", " 4 ", "10.00", "007", "3.5", "abc", "", "1e3", ".5", "+3", None]
    out = collect(frame({"v": raw}).select(to_int("v"), to_float("v").alias("f")))
    assert out.schema == pl.Schema({"v": pl.Int64, "f": pl.Float64})
    assert out.get_column("v").to_list() == [3, 3, -2, 4, 10, 7] + [None] * 7
    assert out.get_column("f").to_list() == [3.0, 3.0, -2.0, 4.0, 10.0, 7.0, 3.5] + [None] * 6


def test_to_bool(frame: MakeFrame) -> None:
    raw = ["true", "TRUE", "1", "yes", "Y", "false", "0", "no", "N", " False ",
           "maybe", "", "t", None]
    assert column(frame({"v": raw}).select(to_bool("v")), "v") == (
        [True] * 5 + [False] * 5 + [None] * 4
    )


def test_valid_email(frame: MakeFrame) -> None:
    raw = ["Ann@Example.COM", " bob.smith+x@mail.co.uk ", "ok@sub-domain.io",
           "a@b", "a@@b.com", "a b@c.com", "noatsign.com", "x@y.c", "", None]
    assert column(frame({"v": raw}).select(valid_email("v")), "v") == [
        "ann@example.com", "bob.smith+x@mail.co.uk", "ok@sub-domain.io",
    ] + [None] * 7


def test_valid_phone(frame: MakeFrame) -> None:
    raw = ["+1 (555) 123-4567", "555-1234", " 5551234 ", "555.123.4567 x12",
           "+44 20 7946 0958", "12345", "555-CALL-NOW", "1234567890123456", "", None]
    assert column(frame({"v": raw}).select(valid_phone("v")), "v") == [
        "+1 (555) 123-4567", "555-1234", "5551234", "555.123.4567 x12", "+44 20 7946 0958",
    ] + [None] * 5


def test_well_formed(frame: MakeFrame) -> None:
    raw = [None, '{"coupon_code":"X"}', '{"_corrupt_record":"{\\"order_id\\": \\"O1"}']
    assert column(frame({"_rescued_data": raw}).select(well_formed().alias("ok")), "ok") == [
        True, True, False,
    ]


# --- silver tables ------------------------------------------------------------------------


def test_regions(frame: MakeFrame) -> None:
    raw = {"region_id": ["r-1", "R02", " 3 "], "region_name": [" North ", "South", ""],
           "country": ["US", "US", "CA"], **lineage(3, "regions")}
    out = collect(silver.regions(frame(raw)))
    assert out.columns == ["region_id", "region_name", "country", "_rescued_data", "_source",
                           "_batch_id"]
    assert out.select("region_id", "region_name", "country").rows() == [
        ("R01", "North", "US"), ("R02", "South", "US"), ("R03", None, "CA"),
    ]


def test_customers(frame: MakeFrame) -> None:
    raw = {
        "customer_id": ["c-1", "C000002", "3"],
        "first_name": [" Ann ", "Bob", "Cy"], "last_name": ["A", "B", "C"],
        "email": ["ANN@X.COM", "not-an-email", None],
        "phone": ["555-1234", "12", "+1 (555) 000-1111"],
        "city": ["Austin", "Boston", "Chicago"], "state": ["TX", "MA", "IL"],
        "country": ["US", "US", "US"], "region_id": ["1", "R02", "r-3"],
        "signup_date": ["03/15/2024", "15.03.2024", "2024-02-30"],
        "updated_at": ["1710512525", "2024-03-15 14:22:05", "15.03.2024 14:22"],
        "segment": ["consumer", " Corporate ", "small_business"],
        **lineage(3, "customers"),
    }
    out = collect(silver.customers(frame(raw)))
    assert out.columns == [
        "customer_id", "first_name", "last_name", "email", "phone", "city", "state", "country",
        "region_id", "signup_date", "updated_at", "segment", "_rescued_data", "_source",
        "_batch_id",
    ]
    assert out.get_column("segment").to_list() == ["consumer", "corporate", "small_business"]
    assert out.schema["signup_date"] == pl.Date
    assert out.schema["updated_at"] == pl.Datetime("us")
    assert out.drop("_rescued_data", "_source", "_batch_id", "segment").rows() == [
        ("C000001", "Ann", "A", "ann@x.com", "555-1234", "Austin", "TX", "US", "R01",
         date(2024, 3, 15), TS),
        ("C000002", "Bob", "B", None, None, "Boston", "MA", "US", "R02", date(2024, 3, 15), TS),
        ("C000003", "Cy", "C", None, "+1 (555) 000-1111", "Chicago", "IL", "US", "R03", None,
         datetime(2024, 3, 15, 14, 22)),
    ]
    assert out.get_column("_source").to_list() == [f"customers/customers-00001.csv:{i}"
                                                   for i in (2, 3, 4)]


def test_products(frame: MakeFrame) -> None:
    raw = {
        "product_id": ["p-42", "7"], "name": ["Lamp", "Mat"],
        "category": ["Home & Kitchen", "Sports & Outdoors"], "brand": ["B", "C"],
        "price": ["19.99", "-5"], "cost": ["7.5", "x"], "active": ["true", "False"],
        "updated_at": ["2024-03-15T14:22:05Z", "1710512525"], **lineage(2, "products"),
    }
    out = collect(silver.products(frame(raw)))
    assert out.schema["price"] == pl.Float64 and out.schema["active"] == pl.Boolean
    assert out.drop("_rescued_data", "_source", "_batch_id").rows() == [
        ("P00042", "Lamp", "Home & Kitchen", "B", 19.99, 7.5, True, TS),
        ("P00007", "Mat", "Sports & Outdoors", "C", -5.0, None, False, TS),
    ]


def test_orders(frame: MakeFrame) -> None:
    raw = {
        "order_id": ["1", "o-2", "O00000003"], "customer_id": ["c-1", "C000002", "bad"],
        "order_date": ["15.03.2024 14:22", "2024-02-30 10:00:00", "1710512525"],
        "status": [" Shipped", "pending", "DELIVERED"], "channel": ["WEB", "mobile", "Store"],
        "payment_method": ["Card", "paypal", "GIFT_CARD"],
        "total_amount": ["10.50", "x", "3"], "currency": ["usd", "EUR", " gbp"],
        "updated_at": ["2024-03-16T00:00:00", "03/16/2024 00:00:00", "2024-03-16"],
        **lineage(3, "orders"),
    }
    out = collect(silver.orders(frame(raw)))
    assert out.columns == [
        "order_id", "customer_id", "order_ts", "status", "channel", "payment_method",
        "total_amount", "currency", "updated_at", "_rescued_data", "_source", "_batch_id",
    ]
    assert out.schema["order_ts"] == pl.Datetime("us")
    updated = datetime(2024, 3, 16)
    assert out.drop("_rescued_data", "_source", "_batch_id").rows() == [
        ("O00000001", "C000001", datetime(2024, 3, 15, 14, 22), "shipped", "web", "card", 10.5,
         "USD", updated),
        ("O00000002", "C000002", None, "pending", "mobile", "paypal", None, "EUR", updated),
        ("O00000003", None, TS, "delivered", "store", "gift_card", 3.0, "GBP", updated),
    ]


def test_order_items(frame: MakeFrame) -> None:
    raw = {
        "order_id": ["O00000001", "1", "o-2"], "line_number": ["1", "2.0", "x"],
        "product_id": ["P00042", "42", "p-7"], "quantity": ["3", "-1", "2"],
        "unit_price": ["10.00", "5", "19.99"], "discount": ["0.1", None, "0.5"],
        **lineage(3, "order_items"),
    }
    out = collect(silver.order_items(frame(raw)))
    assert out.columns == [
        "order_id", "product_id", "line_number", "quantity", "unit_price", "discount",
        "_rescued_data", "_source", "_batch_id", "line_amount",
    ]
    assert out.schema["line_number"] == pl.Int64 and out.schema["quantity"] == pl.Int64
    assert out.drop("_rescued_data", "_source", "_batch_id").rows() == [
        ("O00000001", "P00042", 1, 3, 10.0, 0.1, 27.0),
        ("O00000001", "P00042", 2, -1, 5.0, 0.0, -5.0),
        ("O00000002", "P00007", None, 2, 19.99, 0.5, 19.99),
    ]


def test_line_amount_rounds_half_cents_the_same_on_both_backends() -> None:
    # 1 × 0.125, and 2 × 19.99 × (1 − 0.25) = 29.985: a realistic line of the generator.
    raw = {"order_id": ["1", "1"], "line_number": ["1", "2"], "product_id": ["1", "1"],
           "quantity": ["1", "2"], "unit_price": ["0.125", "19.99"], "discount": ["0", "0.25"],
           **lineage(2)}
    amounts = {
        backend.name: column(silver.order_items(make_frame(backend, raw)), "line_amount")
        for backend in BACKENDS
    }
    assert amounts["polars"] == amounts["duckdb"]
    assert amounts["polars"][0] == 0.13  # half away from zero, as the gold marts round


RETURNS = {
    # RT0000002 and RT0000001 are the same customer, order and product in other id formats.
    "return_id": ["rt0000002", " RT0000001", "RT0000003", "RT0000004", "RT0000005"],
    "order_id": ["1", "O00000001", "2", "3", "4"],
    "product_id": ["P00042", "42", "1", "1", "1"],
    "customer_id": ["C000001", "c-1", None, "C000009", "C000004"],
    "return_date": ["2024-03-20", "2024-03-19T00:00:00", "2024-03-20", "1710512525",
                    "2024-02-30"],
    "reason": ["damaged", "damaged", "x", "y", "z"],
    "refund_amount": ["5", "5.50", "1", "1", "x"],
    **lineage(5, "returns"),
}


def fraud_flags(frame: nw.LazyFrame) -> list[tuple[str, bool]]:
    return collect(frame).sort("return_id").select("return_id", "is_suspected_fraud").rows()


def test_returns_columns_and_values(frame: MakeFrame) -> None:
    out = collect(silver.returns(frame(RETURNS), None)).sort("return_id")
    assert out.columns == [
        "return_id", "order_id", "product_id", "customer_id", "return_ts", "reason",
        "refund_amount", "_rescued_data", "_source", "_batch_id", "is_suspected_fraud",
    ]
    assert out.schema["return_ts"] == pl.Datetime("us")
    assert out.select("return_id", "order_id", "product_id", "customer_id", "return_ts",
                      "refund_amount").rows() == [
        ("RT0000001", "O00000001", "P00042", "C000001", datetime(2024, 3, 19), 5.5),
        ("RT0000002", "O00000001", "P00042", "C000001", datetime(2024, 3, 20), 5.0),
        ("RT0000003", "O00000002", "P00001", None, datetime(2024, 3, 20), 1.0),
        ("RT0000004", "O00000003", "P00001", "C000009", TS, 1.0),
        ("RT0000005", "O00000004", "P00001", "C000004", None, None),
    ]


def test_returns_flag_a_second_filing_within_a_batch(frame: MakeFrame) -> None:
    assert fraud_flags(silver.returns(frame(RETURNS), None)) == [
        ("RT0000001", False),  # the original: the smallest return_id of the group
        ("RT0000002", True),
        ("RT0000003", False),  # no customer: never flagged
        ("RT0000004", False),
        ("RT0000005", False),
    ]


def test_returns_flag_a_filing_repeated_from_an_earlier_batch(frame: MakeFrame) -> None:
    previous = frame({
        "return_id": ["RT0000000", "RT0000009"],
        "order_id": ["O00000003", "O00000004"],
        "product_id": ["P00001", "P00001"],
        "customer_id": ["C000009", "C000004"],
    })
    assert fraud_flags(silver.returns(frame(RETURNS), previous)) == [
        ("RT0000001", False),
        ("RT0000002", True),
        ("RT0000003", False),
        ("RT0000004", True),  # RT0000000 was filed earlier for the same line
        ("RT0000005", False),  # the earlier RT0000009 has a larger id: this is the original
    ]


def test_backends_agree_on_every_silver_table() -> None:
    items = {"order_id": ["1", "2"], "line_number": ["1", "1"], "product_id": ["3", "p-4"],
             "quantity": ["2", "7"], "unit_price": ["3.33", "19.99"], "discount": ["0.15", ""],
             **lineage(2)}
    orders = {"order_id": ["1"], "customer_id": ["c-9"], "order_date": ["02/29/2024 23:59:59"],
              "status": ["x"], "channel": ["y"], "payment_method": ["z"],
              "total_amount": ["1.1"], "currency": ["usd"], "updated_at": ["1700000000"],
              **lineage(1)}
    cases: list[tuple[Callable[[nw.LazyFrame], nw.LazyFrame], Data]] = [
        (silver.order_items, items),
        (silver.orders, orders),
        (lambda f: silver.returns(f, None), RETURNS),
    ]
    for function, data in cases:
        polars_out, *others = (
            collect(function(make_frame(backend, data))) for backend in BACKENDS
        )
        sort = polars_out.columns[:2]
        assert len(others) == len(BACKENDS) - 1 >= 1
        for other in others:
            assert_frame_equal(polars_out.sort(sort), other.sort(sort))
