"""The order-event stream: bronze as received, silver parsed and deduplicated with a
watermark, gold ``realtime_sales`` in event-time windows.

- ``bronze.order_events``: raw messages (``shoplake stream`` from Kafka, or JSON-lines
  files in ``<landing>/order_events/`` with no broker).
- ``silver.order_events``: one row per event line, parsed with a declared schema.
  Null price → 0.0 and null quantity → 1, then amounts are recomputed. Rows that
  are not a valid event (not JSON, not UTF-8, too large, schema violation), whose
  event time is older than the watermark, or that break the price/quantity rules
  go to ``quarantine.order_events`` with the rule and the raw message.
  Deduplicated on ``event_id`` across batches with bounded state: a batch is only
  compared with stored events at or after its own earliest event time, and events
  older than the watermark never get that far, so the lookup prunes by event time.
- ``gold.realtime_sales``: tumbling windows by state, country and category; each
  micro-batch recomputes (and replaces) only the windows it touched, so a late event
  inside the watermark updates its window.

Knobs: ``SHOPLAKE_WATERMARK_SECONDS`` (default 300) and ``SHOPLAKE_WINDOW_SECONDS``
(default 60), or the arguments of :func:`add_stream_tables`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import narwhals as nw

from shoplake import Append, Pipeline, Upsert, decode_json, expect
from shoplake.ecommerce.cleaning import with_timestamp
from shoplake.ecommerce.governance import catalog
from shoplake.ecommerce.marts.common import money

EVENT_FIELDS: dict[str, object] = {
    "event_id": "string",
    "event_type": "string",
    "order_id": "string",
    "customer_id": "string",
    "event_time": "string",
    "order_time": "string",
    "status": "string",
    "channel": "string",
    "payment_method": "string",
    "currency": "string",
    "state": "string",
    "country": "string",
    "items": [{"product_id": "string", "category": "string", "quantity": "int", "price": "float"}],
    "total_amount": "float",
}
REQUIRED = ("event_id", "event_type", "order_id", "event_time")
EVENT_TYPES = ("order_created", "order_updated", "order_cancelled")
MAX_MESSAGE_BYTES = 64 * 1024
SILVER_COLUMNS = (
    "event_id",
    "line_number",
    "event_type",
    "order_id",
    "customer_id",
    "event_ts",
    "order_time",
    "status",
    "channel",
    "payment_method",
    "currency",
    "state",
    "country",
    "product_id",
    "category",
    "quantity",
    "price",
    "line_amount",
    "event_amount",
    "_error",
    "_raw",
    "_too_late",
    "_source",
    "_batch_id",
)
_MISSING_TS = datetime(1970, 1, 1)


def _seconds(env: str, default: int) -> timedelta:
    value = os.environ.get(env)
    try:
        return timedelta(seconds=int(value)) if value else timedelta(seconds=default)
    except ValueError:
        from shoplake import ConfigError

        raise ConfigError(f"{env}={value!r}: give a whole number of seconds") from None


def parse_events(raw: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """Bronze messages → one typed row per event line, with ``_error`` for the unusable."""
    events = decode_json(
        raw,
        "value",
        EVENT_FIELDS,  # type: ignore[arg-type]
        required=REQUIRED,
        max_bytes=MAX_MESSAGE_BYTES,
        explode="items",
    )
    # Event times carry milliseconds; windows need no more than seconds.
    seconds = nw.col("event_time").str.replace(r"\.\d+", "", literal=False)
    events = with_timestamp(events.with_columns(seconds.alias("__ts")), "__ts", alias="event_ts")
    bad_type = ~nw.col("event_type").is_in(EVENT_TYPES) & nw.col("_error").is_null()
    error = (
        nw.when(bad_type)
        .then(nw.lit("schema violation: unknown event_type"))
        .when(nw.col("_error").is_null() & nw.col("event_ts").is_null())
        .then(nw.lit("schema violation: event_time is not a timestamp"))
        .otherwise(nw.col("_error"))
    )
    price = nw.col("price").fill_null(0.0)
    quantity = nw.col("quantity").fill_null(1)
    events = events.with_columns(
        error.alias("_error"), price.alias("price"), quantity.alias("quantity")
    )
    events = events.with_columns(
        money(nw.col("price") * nw.col("quantity")).alias("line_amount"),
        nw.when(~nw.col("_error").is_null()).then(nw.col("_raw")).alias("_raw"),
    )
    return events.with_columns(
        money(nw.col("line_amount").sum().over("_source")).alias("event_amount")
    )


def dedupe_and_mark_late(
    events: nw.LazyFrame[Any], previous: nw.LazyFrame[Any] | None, watermark: timedelta
) -> nw.LazyFrame[Any]:
    """Drop events already stored (or repeated within the batch) and flag ``_too_late``
    the ones older than the watermark: the newest event time seen before this batch
    minus ``watermark``.

    Only stored rows at or after the batch's earliest event time are read, for both
    checks: a duplicate has the same event time as its original, and an older stored
    maximum cannot make anything in the batch late.
    """
    good = events.filter(nw.col("_error").is_null())
    bad = events.filter(~nw.col("_error").is_null())
    good = good.unique(["event_id", "line_number"], keep="any")
    earliest = good.select(nw.col("event_ts").min()).collect().item()
    limit: datetime | None = None
    if previous is not None and earliest is not None:
        recent = previous.filter(nw.col("event_ts") >= nw.lit(earliest))
        seen = recent.select("event_id").unique()
        good = good.join(seen, on="event_id", how="anti")
        newest = recent.select(nw.col("event_ts").max()).collect().item()
        limit = None if newest is None else newest - watermark
    late = nw.lit(False) if limit is None else nw.col("event_ts") < nw.lit(limit)
    good = good.with_columns(late.alias("_too_late"))
    bad = bad.with_columns(nw.lit(False).alias("_too_late"))
    columns = list(SILVER_COLUMNS)
    return nw.concat([good.select(columns), bad.select(columns)], how="vertical")


def _every(window: timedelta) -> str:
    """A truncation interval in its largest whole unit (``1m``, not ``60s``): some
    backends (DuckDB) only truncate to a multiple of one unit."""
    seconds = int(window.total_seconds())
    if seconds <= 0:
        raise ValueError(f"the window must be at least one second, got {window}")
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def realtime_windows(
    new: nw.LazyFrame[Any], events: nw.LazyFrame[Any], window: timedelta
) -> nw.LazyFrame[Any]:
    """Sales per tumbling window, state, country and category, for the windows ``new``
    touched (recomputed from every stored event in them)."""
    every = _every(window)

    def windowed(frame: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        # The cast keeps the window naive: Spark's date_trunc returns a zoned timestamp.
        start = nw.col("event_ts").dt.truncate(every).cast(nw.Datetime("us"))
        return frame.with_columns(start.alias("window_start"))

    touched = windowed(new).select("window_start").unique()
    first = touched.select(nw.col("window_start").min()).collect().item()
    if first is not None:  # read only the stored events of the touched windows' span
        events = events.filter(nw.col("event_ts") >= nw.lit(first))
    rows = windowed(events).join(touched, on="window_start", how="inner")
    created = nw.col("event_type") == "order_created"
    cancelled = nw.col("event_type") == "order_cancelled"
    rows = rows.with_columns(
        nw.when(created).then(nw.col("order_id")).alias("__created"),
        nw.when(cancelled).then(nw.col("order_id")).alias("__cancelled"),
        nw.when(created).then(nw.col("quantity")).otherwise(0).alias("__units"),
        nw.when(created).then(nw.col("line_amount")).otherwise(0.0).alias("__revenue"),
        nw.when(cancelled).then(nw.col("line_amount")).otherwise(0.0).alias("__cancelled_amt"),
    )
    keys = ["window_start", "state", "country", "category"]
    out = rows.group_by(keys).agg(
        nw.col("event_id").n_unique().alias("events"),
        nw.col("__created").n_unique().alias("__orders_n"),
        nw.col("__created").null_count().alias("__orders_nulls"),
        nw.col("__cancelled").n_unique().alias("__cancel_n"),
        nw.col("__cancelled").null_count().alias("__cancel_nulls"),
        nw.col("__units").sum().alias("units"),
        nw.col("__revenue").sum().alias("revenue"),
        nw.col("__cancelled_amt").sum().alias("cancelled_revenue"),
    )
    # n_unique counts null as a value: take it off when a group has nulls.
    orders = nw.col("__orders_n") - (nw.col("__orders_nulls") > 0).cast(nw.Int64)
    cancels = nw.col("__cancel_n") - (nw.col("__cancel_nulls") > 0).cast(nw.Int64)
    return out.select(
        *keys,
        (nw.col("window_start") + window).alias("window_end"),
        "events",
        orders.cast(nw.Int64).alias("orders"),
        cancels.cast(nw.Int64).alias("cancellations"),
        nw.col("units").cast(nw.Int64),
        money(nw.col("revenue")).alias("revenue"),
        money(nw.col("cancelled_revenue")).alias("cancelled_revenue"),
        money(nw.col("revenue") - nw.col("cancelled_revenue")).alias("net_revenue"),
        nw.lit(datetime.now(UTC).replace(tzinfo=None)).alias("updated_at"),
    )


def _bronze_meta(events: nw.LazyFrame[Any]) -> list[nw.Expr]:
    return [
        nw.lit(None, nw.String()).alias("_rescued_data"),
        nw.col("_source"),
        nw.col("_batch_id"),
        nw.lit(datetime.now(UTC).replace(tzinfo=None)).alias("_ingested_at"),
    ]


def order_rows(events: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """Streamed orders in the ``orders`` landing contract (text columns): one row per
    event, so ``silver.orders`` keeps each order's latest state, keyed on the canonical
    order id — an order seen in a file and in the stream is one order."""
    first = events.filter((nw.col("line_number") == 1) | nw.col("line_number").is_null())
    text = nw.String()
    return first.select(
        nw.col("order_id"),
        nw.col("customer_id"),
        nw.col("order_time").str.replace(r"\.\d+", "", literal=False).alias("order_date"),
        nw.col("status"),
        nw.col("channel"),
        nw.col("payment_method"),
        nw.col("event_amount").cast(text).alias("total_amount"),
        nw.col("currency"),
        nw.col("event_ts").dt.to_string("%Y-%m-%dT%H:%M:%S").alias("updated_at"),
        *_bronze_meta(events),
    )


def order_item_rows(events: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """Streamed order lines in the ``order_items`` landing contract (text columns)."""
    lines = events.filter(~nw.col("line_number").is_null() & ~nw.col("product_id").is_null())
    text = nw.String()
    return lines.select(
        nw.col("order_id"),
        nw.col("line_number").cast(text),
        nw.col("product_id"),
        nw.col("quantity").cast(text),
        nw.col("price").cast(text).alias("unit_price"),
        nw.lit("0").alias("discount"),
        *_bronze_meta(events),
    ).unique(["order_id", "line_number"], keep="any")


def add_stream_tables(
    p: Pipeline, *, watermark: timedelta | None = None, window: timedelta | None = None
) -> None:
    """Declare ``bronze.order_events``, ``silver.order_events`` and ``gold.realtime_sales``."""
    horizon = watermark if watermark is not None else _seconds("SHOPLAKE_WATERMARK_SECONDS", 300)
    width = window if window is not None else _seconds("SHOPLAKE_WINDOW_SECONDS", 60)
    described = catalog("bronze.order_events")
    p.stream_source(
        "order_events",
        description="order events as received, one per message",
        owner=described["owner"],
        tags=described["tags"],
    )

    @p.table(
        layer="silver",
        kind=Append(),
        expectations=[
            expect(
                "well_formed_event",
                nw.col("_error").is_null(),
                action="quarantine",
                severity="critical",
                description="valid UTF-8 JSON object within the size limit, with the schema",
            ),
            expect(
                "within_watermark",
                ~nw.col("_too_late"),
                action="quarantine",
                severity="medium",
                description=f"event time no older than the watermark ({horizon})",
            ),
            expect(
                "non_negative_price", nw.col("price") >= 0, action="quarantine", severity="high"
            ),
            expect(
                "positive_quantity", nw.col("quantity") > 0, action="quarantine", severity="high"
            ),
        ],
        **catalog("silver.order_events"),
    )
    def order_events(
        bronze_order_events: nw.LazyFrame[Any], this: nw.LazyFrame[Any] | None
    ) -> nw.LazyFrame[Any]:
        """Order events, one row per line, typed and deduplicated on event id."""
        return dedupe_and_mark_late(parse_events(bronze_order_events), this, horizon)

    @p.table(
        layer="gold",
        kind=Upsert(
            keys=["window_start", "state", "country", "category"], sequence_by="updated_at"
        ),
        inputs={"new": "silver.order_events", "events": "silver.order_events"},
        stream="new",
        **catalog("gold.realtime_sales"),
    )
    def realtime_sales(new: nw.LazyFrame[Any], events: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Sales in event-time windows by state, country and category."""
        return realtime_windows(new, events, width)

    @p.feed(into="bronze.orders", stream="silver.order_events")
    def orders_from_events(events: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        return order_rows(events)

    @p.feed(into="bronze.order_items", stream="silver.order_events")
    def order_items_from_events(events: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        return order_item_rows(events)
