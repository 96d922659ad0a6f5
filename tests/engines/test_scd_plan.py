"""The SCD planner on small frames: no Delta table, no I/O, exact rows."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import polars as pl

from shoplake import ApplyChanges
from shoplake.engines import polars_cdc
from shoplake.engines.base import DELETE, CdcSpec
from shoplake.engines.polars_cdc import CHANGES, CdcPlan, plan_changes
from shoplake.pipeline.writes import cdc_spec

SHOWN = ["id", "city", "tier", "valid_from", "valid_to", "is_current"]


def spec(**options: Any) -> CdcSpec:
    return cdc_spec(ApplyChanges(["id"], "seq", **options))


def changes(*rows: tuple[str, str, str, int, bool]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"id": i, "city": c, "tier": t, "seq": s, DELETE: d} for i, c, t, s, d in rows],
        schema={
            "id": pl.String,
            "city": pl.String,
            "tier": pl.String,
            "seq": pl.Int64,
            DELETE: pl.Boolean,
        },
    )


def null_city_change() -> pl.DataFrame:
    """A change to A at 20 with no city (null) and tier ``blue``."""
    return pl.DataFrame(
        {"id": ["A"], "city": [None], "tier": ["blue"], "seq": [20], DELETE: [False]},
        schema={
            "id": pl.String,
            "city": pl.String,
            "tier": pl.String,
            "seq": pl.Int64,
            DELETE: pl.Boolean,
        },
    )


def history(plan: CdcPlan, columns: list[str] = SHOWN) -> list[tuple[Any, ...]]:
    return sorted(plan.rows.select(columns).rows(), key=lambda r: (r[0], r[3]))


def apply(*batches: pl.DataFrame, **options: Any) -> CdcPlan:
    """Plan each batch against the rows the previous plans left."""
    the_spec = spec(**options)
    existing = pl.DataFrame()
    plan = None
    for batch in batches:
        plan = plan_changes(batch, existing, the_spec, known_keys=existing)
        existing = plan.rows
    assert plan is not None
    return plan


def test_a_first_load_opens_one_current_version_per_key() -> None:
    plan = apply(changes(("A", "Oslo", "gold", 10, False), ("B", "Rome", "blue", 11, False)))

    assert history(plan) == [
        ("A", "Oslo", "gold", 10, None, True),
        ("B", "Rome", "blue", 11, None, True),
    ]
    assert (plan.inserted, plan.updated, plan.opened, plan.changes) == (2, 0, 2, 2)


def test_a_tracked_change_closes_the_version_and_opens_a_new_one() -> None:
    plan = apply(
        changes(("A", "Oslo", "gold", 10, False)),
        changes(("A", "Rome", "gold", 20, False)),
    )

    assert history(plan) == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("A", "Rome", "gold", 20, None, True),
    ]
    assert plan.opened == 1


def test_a_change_in_an_untracked_column_updates_in_place() -> None:
    plan = apply(
        changes(("A", "Oslo", "gold", 10, False)),
        changes(("A", "Oslo", "blue", 20, False)),
        track=["city"],
    )

    assert history(plan) == [("A", "Oslo", "blue", 10, None, True)]
    assert (plan.opened, plan.updated) == (0, 1)


def test_replaying_a_batch_changes_nothing() -> None:
    batch = changes(("A", "Oslo", "gold", 10, False), ("A", "Rome", "gold", 20, False))
    first = apply(batch)
    again = plan_changes(batch, first.rows, spec(), known_keys=first.rows)

    assert again.source.height == 0
    assert (again.inserted, again.updated, again.deleted, again.opened) == (0, 0, 0, 0)
    assert history(again) == history(first)


def test_a_late_change_slots_into_history_where_it_belongs() -> None:
    plan = apply(
        changes(("A", "Oslo", "gold", 10, False)),
        changes(("A", "Rome", "gold", 30, False)),
        changes(("A", "Bergen", "gold", 20, False)),
    )

    assert history(plan) == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("A", "Bergen", "gold", 20, 30, False),
        ("A", "Rome", "gold", 30, None, True),
    ]
    assert (plan.inserted, plan.updated, plan.opened) == (1, 1, 1)


def test_a_late_change_splits_a_version_at_its_sequence() -> None:
    # Two untracked changes after 10 leave one version spanning 10..30; a change at 25
    # must cut it there, not at the version's start or its last change.
    merged = apply(
        changes(("A", "Oslo", "gold", 10, False)),
        changes(("A", "Oslo", "blue", 20, False), ("A", "Oslo", "silver", 30, False)),
        track=["city"],
    )
    assert history(merged, [*SHOWN, "seq", CHANGES]) == [
        ("A", "Oslo", "silver", 10, None, True, 30, [20]),
    ]

    plan = plan_changes(
        changes(("A", "Bergen", "gold", 25, False)), merged.rows, spec(track=["city"])
    )

    assert history(plan, [*SHOWN, "seq"]) == [
        ("A", "Oslo", "silver", 10, 25, False, 20),
        ("A", "Bergen", "gold", 25, 30, False, 25),
        ("A", "Oslo", "silver", 30, None, True, 30),
    ]
    assert (plan.inserted, plan.updated, plan.deleted, plan.opened) == (2, 1, 0, 2)


def test_several_changes_to_one_key_in_a_batch_become_versions_in_order() -> None:
    plan = apply(
        changes(
            ("A", "Rome", "gold", 20, False),
            ("A", "Oslo", "gold", 10, False),
            ("A", "Lima", "gold", 30, False),
        )
    )

    assert history(plan) == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("A", "Rome", "gold", 20, 30, False),
        ("A", "Lima", "gold", 30, None, True),
    ]
    assert (plan.inserted, plan.opened, plan.changes) == (3, 3, 3)


def test_a_delete_closes_the_current_version() -> None:
    plan = apply(
        changes(("A", "Oslo", "gold", 10, False)),
        changes(("A", "Oslo", "gold", 40, True)),
    )

    assert history(plan) == [("A", "Oslo", "gold", 10, 40, False)]
    assert plan.closed_by_delete == 1


def test_a_change_after_a_delete_opens_a_new_version_after_the_gap() -> None:
    plan = apply(
        changes(("A", "Oslo", "gold", 10, False)),
        changes(("A", "Oslo", "gold", 20, True)),
        changes(("A", "Rome", "gold", 30, False)),
    )

    assert history(plan) == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("A", "Rome", "gold", 30, None, True),
    ]
    assert (plan.inserted, plan.updated, plan.opened, plan.closed_by_delete) == (1, 0, 1, 0)


def test_a_closed_version_keeps_its_surrogate_key() -> None:
    first = apply(changes(("A", "Oslo", "gold", 10, False)))
    plan = plan_changes(changes(("A", "Rome", "gold", 20, False)), first.rows, spec())

    keys = plan.rows.sort("valid_from")["surrogate_key"].to_list()
    assert keys[0] == first.rows["surrogate_key"][0]
    assert keys[1] != keys[0]
    assert (plan.inserted, plan.updated, plan.deleted) == (1, 1, 0)


def test_type_1_keeps_one_row_per_key_with_the_latest_values() -> None:
    plan = apply(
        changes(("A", "Oslo", "gold", 10, False), ("B", "Rome", "blue", 5, False)),
        changes(("A", "Lima", "gold", 30, False), ("A", "Rome", "gold", 20, False)),
        scd_type=1,
    )

    assert sorted(plan.rows.select("id", "city", "seq").rows()) == [
        ("A", "Lima", 30),
        ("B", "Rome", 5),
    ]
    assert "valid_from" not in plan.rows.columns


def test_type_1_deletes_the_row_of_a_deleted_key() -> None:
    plan = apply(
        changes(("A", "Oslo", "gold", 10, False), ("B", "Rome", "blue", 5, False)),
        changes(("A", "Lima", "gold", 30, False), ("B", "Rome", "blue", 6, True)),
        scd_type=1,
    )

    assert plan.rows.select("id", "city", "seq").rows() == [("A", "Lima", 30)]
    assert (plan.inserted, plan.updated, plan.deleted, plan.closed_by_delete) == (0, 1, 1, 1)


def test_a_snapshot_deletes_the_keys_it_no_longer_lists() -> None:
    plan = apply(
        changes(("A", "Oslo", "gold", 1, False), ("B", "Rome", "blue", 1, False)),
        changes(("A", "Oslo", "gold", 2, False)),
        snapshot=True,
        missing_as_delete=True,
    )

    assert history(plan) == [
        ("A", "Oslo", "gold", 1, None, True),
        ("B", "Rome", "blue", 1, 2, False),
    ]
    assert plan.closed_by_delete == 1


def test_a_snapshot_without_missing_as_delete_keeps_the_missing_keys() -> None:
    plan = apply(
        changes(("A", "Oslo", "gold", 1, False), ("B", "Rome", "blue", 1, False)),
        changes(("A", "Oslo", "gold", 2, False)),
        snapshot=True,
    )

    assert history(plan) == [
        ("A", "Oslo", "gold", 1, None, True),
        ("B", "Rome", "blue", 1, None, True),
    ]


def test_ignore_null_updates_keeps_the_earlier_value() -> None:
    plan = apply(
        changes(("A", "Oslo", "gold", 10, False)),
        null_city_change(),
        ignore_null_updates=True,
    )

    assert history(plan) == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("A", "Oslo", "blue", 20, None, True),
    ]


def test_without_ignore_null_updates_a_null_overwrites() -> None:
    plan = apply(changes(("A", "Oslo", "gold", 10, False)), null_city_change())

    assert history(plan) == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("A", None, "blue", 20, None, True),
    ]


def test_the_planner_does_no_delta_io() -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(Path(polars_cdc.__file__).read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])

    assert "polars" in imported
    assert imported.isdisjoint({"deltalake", "pyarrow", "os", "pathlib", "io"})
