"""Building the Spark session the Spark engine runs on: local, a cluster or Spark Connect.

Settings come from the ``[spark]`` section of ``shoplake.toml`` (then ``SHOPLAKE_SPARK_*``
environment variables, then arguments)::

    [spark]
    master = "local[4]"                 # or "spark://host:7077"; default local[2]
    remote = "sc://host:15002"          # Spark Connect (Databricks Connect too): wins over master
    conf = { "spark.executor.memory" = "4g" }
    read_on_executors_above = 67108864  # bytes of landing files a batch reads on the driver

A local or cluster session fetches Delta's jars (``io.delta:delta-spark_2.13`` of the
installed delta-spark's version) from Maven Central once, into an Ivy cache in the
checkout (``.cache/ivy``), so later sessions start without the network. A Spark Connect
server must have delta-spark itself (``--packages io.delta:delta-spark_2.13:<version>``).

A session for a lake on S3 also gets hadoop-aws and S3A settings derived from the lake's
store settings (``spark_s3a``); a Spark Connect server must be set up for S3 itself.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from shoplake.engines import spark_s3a
from shoplake.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
DEFAULT_EXECUTOR_READ = 64 * 2**20
"""Bytes of landing files from which a batch is read by the executors, not the driver."""
_BASE_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # Small batches: a few shuffle partitions, not 200 tasks of nothing each.
    "spark.sql.shuffle.partitions": "4",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # The lake's timestamps mean UTC on every machine, like the Polars engine's.
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # A new column in a later batch evolves the table in a MERGE too (as delta-rs does).
    "spark.databricks.delta.schema.autoMerge.enabled": "true",
}

_SESSION_CONF = (
    "spark.sql.session.timeZone",
    "spark.sql.parquet.outputTimestampType",
    "spark.databricks.delta.schema.autoMerge.enabled",
)


@dataclass(frozen=True)
class SparkSettings:
    """Where the Spark engine runs: ``master`` (``local[N]``, ``spark://...``) or a Spark
    Connect ``remote`` (``sc://host:port``), plus extra Spark ``conf``."""

    master: str = DEFAULT_MASTER
    remote: str | None = None
    conf: Mapping[str, str] = field(default_factory=dict)
    read_on_executors_above: int = DEFAULT_EXECUTOR_READ


SPARK_KEYS = ("master", "remote", "conf", "read_on_executors_above")


def spark_settings(
    *,
    master: str | None = None,
    remote: str | None = None,
    conf: Mapping[str, object] | None = None,
    config: Path | None = None,
) -> SparkSettings:
    """The ``[spark]`` section of ``shoplake.toml``, then ``SHOPLAKE_SPARK_MASTER`` /
    ``SHOPLAKE_SPARK_REMOTE``, then the arguments."""
    from shoplake.config import CONFIG_FILE, load_section

    section = load_section("spark", config)
    where = config or Path(CONFIG_FILE)
    for key in section:
        if key not in SPARK_KEYS:
            raise ConfigError(
                f"{where}: [spark] has no setting {key!r}; use {', '.join(SPARK_KEYS)}"
            )
    threshold = section.get("read_on_executors_above", DEFAULT_EXECUTOR_READ)
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 0:
        raise ConfigError(f"{where}: [spark] read_on_executors_above must be a number of bytes")
    for key in ("master", "remote"):
        if key in section and not isinstance(section[key], str):
            raise ConfigError(f"{where}: [spark] {key} must be a string")
    extra = section.get("conf", {})
    if not isinstance(extra, dict):
        raise ConfigError(f'{where}: [spark] conf must be a table, e.g. conf = {{ "k" = "v" }}')
    values: dict[str, str | None] = {
        "master": str(section.get("master", DEFAULT_MASTER)),
        "remote": str(section["remote"]) if "remote" in section else None,
    }
    for key in ("master", "remote"):
        env = os.environ.get(f"SHOPLAKE_SPARK_{key.upper()}")
        if env:
            values[key] = env
    if master:
        values["master"] = master
    if remote:
        values["remote"] = remote
    merged = {str(k): str(v) for k, v in {**extra, **(conf or {})}.items()}
    remote_url = values["remote"]
    if remote_url is not None and not remote_url.startswith("sc://"):
        raise ConfigError(f"[spark] remote {remote_url!r}: write it as sc://host:port")
    return SparkSettings(values["master"] or DEFAULT_MASTER, remote_url, merged, threshold)


def delta_package() -> str:
    """The Maven coordinate of Delta's jars matching the installed delta-spark."""
    try:
        version = metadata.version("delta-spark")
    except metadata.PackageNotFoundError:
        raise ConfigError(
            "the Spark engine needs delta-spark: pip install 'shoplake[spark]'"
        ) from None
    return f"io.delta:delta-spark_2.13:{version}"


def ivy_cache() -> str:
    """Where fetched jars are kept: ``.cache/ivy`` in a source checkout (ignored by git),
    else the user's cache folder; ``SHOPLAKE_IVY_CACHE`` overrides both."""
    if os.environ.get("SHOPLAKE_IVY_CACHE"):
        return os.environ["SHOPLAKE_IVY_CACHE"]
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").exists():
        return str(checkout / ".cache" / "ivy")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "shoplake" / "ivy")


def driver_memory() -> str:
    """The driver JVM's heap unless ``conf`` sets one: a quarter of the machine's memory,
    1–8 GB. A flow's result passes through the driver (its rules are judged there), and
    Spark's 1 GB default runs out at about a million rows."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "2g"
    return f"{min(8, max(1, total // 4 // 2**30))}g"


_lock = threading.Lock()


def build_session(
    settings: SparkSettings,
    lake: str | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> SparkSession:
    """A Spark session with Delta Lake, as ``settings`` say (an existing one is reused),
    able to reach ``lake`` with ``storage_options`` (its store settings) when it is on S3."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("the Spark engine needs PySpark: pip install 'shoplake[spark]'") from None
    with _lock:
        if settings.remote:
            builder = SparkSession.builder.remote(settings.remote)
            for key, value in settings.conf.items():
                builder = builder.config(key, value)
            remote = builder.getOrCreate()
            # The server's own settings stand; these few are the session's and matter to
            # the results (UTC timestamps, schema evolution in a MERGE).
            for key in _SESSION_CONF:
                if key not in settings.conf:
                    remote.conf.set(key, _BASE_CONF[key])
            return remote
        if settings.master.startswith("local"):
            # Python tasks (files read on executors) run in this interpreter, which has
            # shoplake, not in whatever `python3` is first on the PATH.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.master(settings.master).appName("shoplake")
        packages = [delta_package()]
        s3a = None
        if lake is not None and spark_s3a.is_s3(lake):
            s3a = spark_s3a.s3a_settings(storage_options)
            if "spark.jars.packages" not in settings.conf:
                packages.append(spark_s3a.s3a_package())
        conf = {
            **_BASE_CONF,
            "spark.driver.memory": driver_memory(),
            "spark.jars.packages": ",".join(packages),
            "spark.jars.ivy": ivy_cache(),
            **(s3a.spark_conf() if s3a else {}),
            **settings.conf,
        }
        for key, value in conf.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        _quiet_codegen(session)
        if s3a is not None:
            spark_s3a.reach(session, s3a)
        return session


def attach_lake(
    session: SparkSession, lake: str, storage_options: Mapping[str, str] | None
) -> None:
    """Make a session started elsewhere (passed to the engine) reach ``lake``: its S3A
    settings, when the lake is on S3 and the session is not a Spark Connect client (a
    server reaches its lakes with its own settings)."""
    if spark_s3a.is_s3(lake) and not type(session).__module__.startswith("pyspark.sql.connect"):
        spark_s3a.reach(session, spark_s3a.s3a_settings(storage_options))


def _quiet_codegen(session: SparkSession) -> None:
    """Silence the code generator's compile failures: a wide expression (the timestamp
    parsing of silver) can exceed Java's 64 KB method limit, which Spark survives by
    interpreting it instead, after logging a page-long stack trace as an error."""
    jvm = session.sparkContext._jvm
    if jvm is None:
        return
    logging = jvm.org.apache.logging.log4j
    logging.core.config.Configurator.setLevel(
        "org.apache.spark.sql.catalyst.expressions.codegen.CodeGenerator", logging.Level.OFF
    )
