"""The Spark engine's way to a lake on S3: Hadoop's S3A connector (hadoop-aws), set up from
the same store settings delta-rs and obstore use.

A lake at ``s3://`` or ``s3a://`` is read and written by Spark's Delta writer through
S3A, which PySpark does not ship: the session fetches ``org.apache.hadoop:hadoop-aws`` of
the bundled Hadoop's version (and, with it, the AWS SDK bundle it needs, about 550 MB,
once) from Maven Central into the same Ivy cache as Delta's jars. ``s3://`` is mapped to
S3A too, so a lake URI works unchanged on either engine.

The settings are the ones the Polars engine passes to delta-rs: the standard ``AWS_*``
variables, then ``[storage]`` / ``SHOPLAKE_STORAGE_AWS_*`` (``shoplake.stores``), in
object_store's vocabulary (``aws_endpoint_url``, ``aws_region``, ``aws_allow_http``...),
translated here to ``fs.s3a.*``. Keys that are not secret go into the session's conf
(Spark passes its conf on the JVM's command line, visible to anyone on the machine);
the access key, secret and session token are set only in the running session's Hadoop
configuration, so they are never on a command line, in a log or in the lake.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shoplake.errors import ConfigError
from shoplake.stores import provider

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

S3A_FILESYSTEM = "org.apache.hadoop.fs.s3a.S3AFileSystem"
_PROVIDERS = "org.apache.hadoop.fs.s3a.{}AWSCredentialsProvider"
# object_store's other names for a setting (its AmazonS3ConfigKey aliases, ``aws_`` removed).
_ALIASES = {"endpoint_url": "endpoint", "token": "session_token"}
_HADOOP_JAR = re.compile(r"hadoop-client-api-(\d+\.\d+\.\d+)\.jar$")


def is_s3(uri: str) -> bool:
    """Whether ``uri`` is on S3 (or anything speaking it), as S3A reaches it."""
    return provider(uri) == "aws"


def hadoop_version() -> str | None:
    """The Hadoop version Spark runs with, read from its jars (``SPARK_HOME`` first, as
    ``spark-submit`` does, then the pyspark package's): hadoop-aws must match it exactly."""
    folders = []
    if os.environ.get("SPARK_HOME"):
        folders.append(Path(os.environ["SPARK_HOME"]) / "jars")
    try:
        import pyspark

        folders.append(Path(pyspark.__file__).parent / "jars")
    except ImportError:
        pass
    for folder in folders:
        for jar in sorted(folder.glob("hadoop-client-api-*.jar")):
            found = _HADOOP_JAR.search(jar.name)
            if found:
                return found.group(1)
    return None


def s3a_package() -> str:
    """The Maven coordinate of hadoop-aws for this Spark (Ivy brings its AWS SDK along)."""
    version = hadoop_version()
    if version is None:
        raise ConfigError(
            "a lake on S3 needs hadoop-aws of Spark's Hadoop version, which could not be read "
            "from Spark's jars; add org.apache.hadoop:hadoop-aws:<version> (and Delta's "
            "package) to spark.jars.packages in [spark] conf"
        )
    return f"org.apache.hadoop:hadoop-aws:{version}"


def aws_settings(options: Mapping[str, str] | None) -> dict[str, str]:
    """The S3 settings in force, as delta-rs sees them: every ``AWS_*`` variable, then
    ``options``; keys in object_store's vocabulary without the ``aws_`` prefix."""
    found: dict[str, str] = {}
    sources = [
        {k: v for k, v in os.environ.items() if k.upper().startswith("AWS_")},
        dict(options or {}),
    ]
    for source in sources:
        for key, value in source.items():
            bare = key.lower().removeprefix("aws_")
            found[_ALIASES.get(bare, bare)] = value
    return found


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "on")


@dataclass(frozen=True)
class S3ASettings:
    """``conf``: Hadoop keys safe to show (endpoint, region, path style, providers...);
    ``credentials``: the keys and secrets, never put in the session's conf or shown."""

    conf: Mapping[str, str]
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)

    def spark_conf(self) -> dict[str, str]:
        """``conf`` as Spark conf entries (``spark.hadoop.*``), for a session's start."""
        return {f"spark.hadoop.{key}": value for key, value in self.conf.items()}


def s3a_settings(options: Mapping[str, str] | None) -> S3ASettings:
    """S3A's settings for the store settings ``options`` (over the ``AWS_*`` variables)."""
    aws = aws_settings(options)
    conf = {
        # s3:// through S3A, so one lake URI serves delta-rs and Spark alike.
        "fs.s3.impl": S3A_FILESYSTEM,
        "fs.AbstractFileSystem.s3.impl": "org.apache.hadoop.fs.s3a.S3A",
    }
    endpoint = aws.get("endpoint")
    if endpoint:
        conf["fs.s3a.endpoint"] = endpoint
        # Emulators and most S3-compatible stores (MinIO, moto) have no per-bucket host
        # names; object_store uses paths too unless asked for virtual hosts.
        if not _true(aws.get("virtual_hosted_style_request")):
            conf["fs.s3a.path.style.access"] = "true"
    region = aws.get("region") or aws.get("default_region")
    if region:
        conf["fs.s3a.endpoint.region"] = region
    if _true(aws.get("allow_http")):
        conf["fs.s3a.connection.ssl.enabled"] = "false"
    credentials: dict[str, str] = {}
    if _true(aws.get("skip_signature")):
        conf["fs.s3a.aws.credentials.provider"] = _PROVIDERS.format("Anonymous")
    elif aws.get("access_key_id") and aws.get("secret_access_key"):
        credentials["fs.s3a.access.key"] = aws["access_key_id"]
        credentials["fs.s3a.secret.key"] = aws["secret_access_key"]
        if aws.get("session_token"):
            credentials["fs.s3a.session.token"] = aws["session_token"]
            conf["fs.s3a.aws.credentials.provider"] = _PROVIDERS.format("Temporary")
        else:
            conf["fs.s3a.aws.credentials.provider"] = _PROVIDERS.format("Simple")
    # Otherwise S3A's own chain: environment variables, then the instance's role.
    return S3ASettings(conf, credentials)


def reach(session: SparkSession, settings: S3ASettings) -> None:
    """Set up a running (classic) session for the lake: ``settings`` in its Hadoop
    configuration, which every job's tasks receive with their work, except what the
    session's own conf sets (``[spark] conf`` wins). An error when the session has no
    S3A (it was started before, without hadoop-aws)."""
    context = session.sparkContext
    jvm, java_context = context._jvm, context._jsc
    if jvm is None or java_context is None:
        return
    from py4j.java_gateway import JavaClass

    if not isinstance(jvm.org.apache.hadoop.fs.s3a.S3AFileSystem, JavaClass):
        raise ConfigError(
            "this Spark session was started without hadoop-aws, so it cannot reach a lake on "
            f"S3; start it with spark.jars.packages including {s3a_package()}"
        )
    started_with = context.getConf()
    hadoop = java_context.hadoopConfiguration()
    for key, value in {**settings.conf, **settings.credentials}.items():
        if not started_with.contains(f"spark.hadoop.{key}"):
            hadoop.set(key, value)
