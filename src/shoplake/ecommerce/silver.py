"""Silver transformations: typed, standardised rows, engine-neutral (narwhals only).

Each function takes the new bronze rows of one source and returns them cleaned;
the pipeline's rules then quarantine what cannot be fixed and the Upsert kind
keeps the latest version of each key. See docs/data-contract.md.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake.ecommerce.cleaning import (
    canonical_id,
    to_bool,
    to_float,
    to_int,
    valid_email,
    valid_phone,
    with_timestamp,
    with_timestamps,
)
from shoplake.ecommerce.marts.common import money

PROVENANCE = ("_rescued_data", "_source", "_batch_id")
ID_WIDTH = {"R": 2, "C": 6, "P": 5, "O": 8, "RT": 7}


def _id(column: str, prefix: str) -> nw.Expr:
    return canonical_id(column, prefix, ID_WIDTH[prefix])


def _text(column: str) -> nw.Expr:
    value = nw.col(column).str.strip_chars()
    return nw.when(value != "").then(value).alias(column)


def regions(raw: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    return raw.select(_id("region_id", "R"), _text("region_name"), _text("country"), *PROVENANCE)


def customers(raw: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    frame = with_timestamps(raw, {"signup_date": "signup_date", "updated_at": "updated_at"})
    return frame.select(
        _id("customer_id", "C"),
        _text("first_name"),
        _text("last_name"),
        valid_email("email"),
        valid_phone("phone"),
        _text("city"),
        _text("state"),
        _text("country"),
        _id("region_id", "R"),
        nw.col("signup_date").dt.date(),
        "updated_at",
        nw.col("segment").str.strip_chars().str.to_lowercase(),
        *PROVENANCE,
    )


def products(raw: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    frame = with_timestamp(raw, "updated_at")
    return frame.select(
        _id("product_id", "P"),
        _text("name"),
        _text("category"),
        _text("brand"),
        to_float("price"),
        to_float("cost"),
        to_bool("active"),
        "updated_at",
        *PROVENANCE,
    )


def orders(raw: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    frame = with_timestamps(raw, {"order_date": "order_ts", "updated_at": "updated_at"})
    return frame.select(
        _id("order_id", "O"),
        _id("customer_id", "C"),
        "order_ts",
        nw.col("status").str.strip_chars().str.to_lowercase(),
        nw.col("channel").str.strip_chars().str.to_lowercase(),
        nw.col("payment_method").str.strip_chars().str.to_lowercase(),
        to_float("total_amount"),
        nw.col("currency").str.strip_chars().str.to_uppercase(),
        "updated_at",
        *PROVENANCE,
    )


def order_items(raw: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    frame = raw.select(
        _id("order_id", "O"),
        _id("product_id", "P"),
        to_int("line_number"),
        to_int("quantity"),
        to_float("unit_price"),
        to_float("discount"),
        *PROVENANCE,
    )
    discount = nw.col("discount").fill_null(0.0)
    return frame.with_columns(
        discount.alias("discount"),
        money(nw.col("quantity") * nw.col("unit_price") * (1 - discount)).alias("line_amount"),
    )


def returns(raw: nw.LazyFrame[Any], previous: nw.LazyFrame[Any] | None) -> nw.LazyFrame[Any]:
    """Returns, flagging a return filed again by the same customer for the same order line.

    The original filing is the one with the smallest ``return_id`` among the
    returns of one customer, order and product, across this batch and every
    earlier one (``previous``); every other filing is ``is_suspected_fraud``.
    """
    frame = with_timestamp(raw, "return_date", alias="return_ts")
    frame = frame.select(
        nw.col("return_id").str.strip_chars().str.to_uppercase(),
        _id("order_id", "O"),
        _id("product_id", "P"),
        _id("customer_id", "C"),
        "return_ts",
        _text("reason"),
        to_float("refund_amount"),
        *PROVENANCE,
    )
    group = ["customer_id", "order_id", "product_id"]
    batch = frame.with_columns(nw.lit(True).alias("__new"))
    if previous is not None:
        earlier = previous.select(*group, "return_id").with_columns(nw.lit(False).alias("__new"))
        ids = nw.concat([batch.select(*group, "return_id", "__new"), earlier], how="vertical")
    else:
        ids = batch.select(*group, "return_id", "__new")
    firsts = ids.group_by(group).agg(nw.col("return_id").min().alias("__first"))
    joined = batch.join(firsts, on=group, how="left")
    keyed = ~nw.any_horizontal(*[nw.col(c).is_null() for c in group], ignore_nulls=False)
    suspected = keyed & (nw.col("return_id") != nw.col("__first")).fill_null(value=False)
    return joined.with_columns(suspected.alias("is_suspected_fraud")).drop("__new", "__first")
