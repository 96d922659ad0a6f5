"""Event streams: ``shoplake produce`` and ``shoplake stream``."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shoplake.cli import common
from shoplake.cli.common import Bootstrap, Debug, EngineOpt, PipelineOpt
from shoplake.cli.console import console, run_messages
from shoplake.errors import ConfigError

if TYPE_CHECKING:
    from shoplake.engines.base import Engine
    from shoplake.pipeline.tables import Pipeline
    from shoplake.streaming.runner import StreamOptions

Topic = Annotated[str, typer.Option("--topic", help="Kafka topic")]
KafkaConf = Annotated[
    list[str] | None,
    typer.Option(
        "--kafka",
        help="librdkafka setting KEY=VALUE, repeatable (SASL/SSL for Event Hubs, Confluent Cloud)",
    ),
]
ConnectTimeout = Annotated[
    float,
    typer.Option("--connect-timeout", min=0.1, help="Seconds the broker has to answer at start"),
]


KAFKA_ENV = "SHOPLAKE_KAFKA_"


def parse_kafka_config(
    items: list[str] | None, environ: dict[str, str] | None = None
) -> dict[str, object]:
    """librdkafka settings: ``SHOPLAKE_KAFKA_<KEY>`` environment variables (``_`` for
    ``.``: ``SHOPLAKE_KAFKA_SASL_PASSWORD`` → ``sasl.password``, so secrets stay out of
    the command line), then ``--kafka KEY=VALUE`` options."""
    import os

    env = os.environ if environ is None else environ
    config: dict[str, object] = {
        name[len(KAFKA_ENV) :].lower().replace("_", "."): value
        for name, value in env.items()
        if name.startswith(KAFKA_ENV) and len(name) > len(KAFKA_ENV)
    }
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--kafka {item!r}: write it as KEY=VALUE, e.g. sasl.mechanism=PLAIN")
        config[key.strip()] = value
    return config


class _Stopper:
    """Ctrl-C or SIGTERM asks the stream to stop after the current micro-batch commits;
    a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self) -> bool:
        return self.event.is_set()

    def __enter__(self) -> _Stopper:
        def handle(signum: int, _frame: object) -> None:
            if self.event.is_set() and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.event.set()
            console.print("[yellow]stopping after the current micro-batch…[/]")

        self._previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


def register(app: typer.Typer) -> None:
    """Add the streaming commands to the ``shoplake`` app."""

    @app.command()
    def produce(
        bootstrap: Bootstrap = None,
        topic: Topic = "order_events",
        rate: Annotated[
            float | None, typer.Option("--rate", help="Events per second [default: max]")
        ] = None,
        count: Annotated[
            int, typer.Option("--count", help="Events to send (0: until Ctrl-C)")
        ] = 1000,
        defect_rate: Annotated[
            float, typer.Option("--defect-rate", help="Share of events with a defect")
        ] = 0.05,
        seed: Annotated[int, typer.Option("--seed")] = 42,
        landing: Annotated[str | None, typer.Option("--landing", help="Landing folder")] = None,
        kafka: KafkaConf = None,
        connect_timeout: ConnectTimeout = 5.0,
        debug: Debug = False,
    ) -> None:
        """Send Faker order events to a Kafka topic, or as JSON-lines files into the landing
        folder (<landing>/order_events/) when no --bootstrap is given."""
        from shoplake.ecommerce.events import EventFactory
        from shoplake.sources.produce import produce_events

        with common.errors(debug, ValueError):
            landing_path = common.landing_path(common.settings(landing=landing))
            factory = EventFactory(seed=seed, defect_rate=defect_rate, landing=landing_path)
            start = time.perf_counter()
            with _Stopper() as stopper, console.status("producing…") as status:
                sent = produce_events(
                    factory,
                    count=count,
                    rate=rate,
                    bootstrap=bootstrap,
                    topic=topic,
                    landing=landing_path,
                    kafka_config=parse_kafka_config(kafka),
                    stop=stopper,
                    progress=lambda n: status.update(f"produced {n:,} events"),
                    connect_timeout_s=connect_timeout,
                )
        seconds = time.perf_counter() - start
        where = f"topic {topic} on {bootstrap}" if bootstrap else str(landing_path / "order_events")
        table = Table(title=f"{sent:,} events to {where} in {seconds:.1f}s", title_justify="left")
        table.add_column("defect")
        table.add_column("events", justify="right")
        for name, n in factory.defects.items():
            table.add_row(name, f"{n:,}")
        console.print(table)

    @app.command()
    def stream(
        bootstrap: Bootstrap = None,
        topic: Topic = "order_events",
        lake: Annotated[str | None, typer.Option("--lake", help="Lake folder or URI")] = None,
        landing: Annotated[str | None, typer.Option("--landing", help="Landing folder")] = None,
        available_now: Annotated[
            bool, typer.Option("--available-now", help="Read to the current end, then stop")
        ] = False,
        max_records: Annotated[int, typer.Option(help="Micro-batch size bound")] = 50_000,
        max_seconds: Annotated[float, typer.Option(help="Micro-batch latency bound")] = 0.5,
        group: Annotated[str | None, typer.Option("--group", help="Consumer group id")] = None,
        kafka: KafkaConf = None,
        connect_timeout: ConnectTimeout = 5.0,
        wait: Annotated[
            bool,
            typer.Option("--wait", help="Keep trying an unreachable broker instead of stopping"),
        ] = False,
        source: Annotated[
            str | None,
            typer.Option("--source", help="The pipeline's stream source [default: its only one]"),
        ] = None,
        pipeline: PipelineOpt = None,
        engine: EngineOpt = None,
        debug: Debug = False,
    ) -> None:
        """Stream order events: topic → bronze (exactly once) → silver → gold, per
        micro-batch. Without --bootstrap, reads <landing>/order_events/ files instead."""
        from shoplake.streaming.runner import StreamOptions, choose_stream_source, run_kafka_stream

        with common.errors(debug):
            reads = () if bootstrap else ("landing",)  # without a broker: landing files
            settings = common.settings(
                lake, landing, pipeline=pipeline, engine=engine, reads=reads
            )
            # This process owns the stream's tables for its lifetime: keep their snapshots.
            lake_engine = common.engine(settings, reuse_snapshots=True)
            loaded = common.load_pipeline(settings.pipeline)
            stream_source = choose_stream_source(loaded, source)
            landing_path = common.landing_path(settings)
            options = StreamOptions(
                max_records=max_records,
                max_seconds=max_seconds,
                available_now=available_now,
                connect_timeout_s=connect_timeout,
                wait_for_broker=wait,
            )
            if bootstrap is None:
                with _Stopper() as stopper:
                    _stream_files(
                        loaded, lake_engine, stream_source.ref, landing_path, options, stopper
                    )
                return
            config = {"bootstrap.servers": bootstrap, **parse_kafka_config(kafka)}
            if group:
                config["group.id"] = group

            def report(batch: object, written: int, run: object) -> None:
                status = getattr(run, "status", "")
                console.print(f"micro-batch: {written:,} events into bronze; downstream {status}")

            with _Stopper() as stopper:
                stats = run_kafka_stream(
                    loaded,
                    engine=lake_engine,
                    landing=landing_path,
                    source=stream_source.name,
                    topic=topic,
                    kafka_config=config,
                    options=options,
                    stop=stopper,
                    on_batch=report,
                    on_wait=common.print_note,
                )
        for gap in stats.gaps:
            common.print_note(gap)
        console.print(
            f"[green]stopped[/]: {stats.events:,} events in {stats.batches} micro-batches "
            f"({stats.replayed:,} already stored, skipped) in {stats.duration_s:.1f}s"
        )
        last = stats.runs[-1] if stats.runs else None
        if last is not None and last.status == "failed":
            # Bronze kept every event; the tables after it did not catch up: say which,
            # and exit 1 so a scheduler sees it (the next start retries them).
            for message in run_messages(last):
                common.print_error(message)
            raise typer.Exit(1)


def _stream_files(
    pipeline: Pipeline,
    engine: Engine,
    bronze: str,
    landing: Path,
    options: StreamOptions,
    stop: Callable[[], bool],
) -> None:
    """No broker: the stream's files from the landing folder, polled every max_seconds."""
    from shoplake.ingest.update import run_update
    from shoplake.streaming.runner import downstream_of, feed_followers, run_feeds

    downstream = downstream_of(pipeline, bronze)
    select = [bronze, *downstream]
    total = 0
    while True:
        run = run_update(pipeline, engine=engine, landing=landing, select=select)
        fed = run_feeds(engine, pipeline, set(downstream), run.run_id)
        if fed:
            run_update(
                pipeline, engine=engine, landing=landing, select=feed_followers(pipeline, fed)
            )
        for message in run_messages(run):
            common.print_error(message)
        flow = run.flow(bronze)
        if flow.status == "failed":
            raise typer.Exit(1)  # nothing committed: the files stay for the next start
        if flow.status == "completed":
            total += flow.rows_written
            console.print(f"{flow.files} file(s), {flow.rows_written:,} events; run {run.status}")
        if options.available_now or stop():
            break
        time.sleep(options.max_seconds)
    console.print(f"[green]stopped[/]: {total:,} events from landing files")
