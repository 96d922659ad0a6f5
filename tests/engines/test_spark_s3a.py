"""The Spark engine's S3A settings come from the store settings delta-rs uses (the ``AWS_*``
variables, then ``[storage]`` / ``SHOPLAKE_STORAGE_AWS_*``), and its credentials never go
into the session's conf, which Spark shows on the JVM's command line. The run against a
real S3 endpoint is in ``tests/objstore/test_objstore_spark.py``."""

from __future__ import annotations

from typing import Any

import pytest

from shoplake.engines import create_engine
from shoplake.engines.spark_s3a import S3A_FILESYSTEM, hadoop_version, s3a_package, s3a_settings
from shoplake.errors import ConfigError
from shoplake.stores import options_for

SECRET = "Sup3rS3cretValue-4d1e8b"


@pytest.fixture(autouse=True)
def _no_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("AWS_", "SHOPLAKE_STORAGE_")):
            monkeypatch.delenv(name)


def test_an_emulator_endpoint_from_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    settings = s3a_settings(None)
    assert settings.spark_conf() == {
        "spark.hadoop.fs.s3.impl": S3A_FILESYSTEM,
        "spark.hadoop.fs.AbstractFileSystem.s3.impl": "org.apache.hadoop.fs.s3a.S3A",
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:5000",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        ),
    }
    assert settings.credentials == {
        "fs.s3a.access.key": "AKIDEXAMPLE",
        "fs.s3a.secret.key": SECRET,
    }
    assert SECRET not in repr(settings)


def test_storage_settings_win_over_the_variables_and_stay_out_of_the_conf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    monkeypatch.setenv("SHOPLAKE_STORAGE_AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("SHOPLAKE_STORAGE_AWS_SESSION_TOKEN", "a-session-token")
    monkeypatch.setenv("SHOPLAKE_STORAGE_AWS_ENDPOINT_URL", "https://s3.example.test")
    monkeypatch.setenv("SHOPLAKE_STORAGE_AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "true")
    settings = s3a_settings(options_for("s3://bucket/lake"))
    conf = settings.spark_conf()
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "https://s3.example.test"
    assert "spark.hadoop.fs.s3a.path.style.access" not in conf
    assert "spark.hadoop.fs.s3a.connection.ssl.enabled" not in conf
    assert conf["spark.hadoop.fs.s3a.aws.credentials.provider"].endswith(
        "TemporaryAWSCredentialsProvider"
    )
    assert settings.credentials["fs.s3a.secret.key"] == SECRET
    assert settings.credentials["fs.s3a.session.token"] == "a-session-token"
    assert not any(SECRET in value or "a-session-token" in value for value in conf.values())


def test_no_keys_leave_s3a_its_own_chain_and_skip_signature_is_anonymous(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = s3a_settings(None)
    assert "fs.s3a.aws.credentials.provider" not in chain.conf and chain.credentials == {}
    assert chain.conf["fs.s3.impl"] == S3A_FILESYSTEM
    monkeypatch.setenv("SHOPLAKE_STORAGE_AWS_SKIP_SIGNATURE", "true")
    anonymous = s3a_settings(options_for("s3a://public/lake"))
    provider = anonymous.conf["fs.s3a.aws.credentials.provider"]
    assert provider == "org.apache.hadoop.fs.s3a.AnonymousAWSCredentialsProvider"


def test_hadoop_aws_matches_sparks_own_hadoop() -> None:
    pyspark = pytest.importorskip("pyspark")
    from pathlib import Path

    version = hadoop_version()
    assert version is not None
    assert (Path(pyspark.__file__).parent / "jars" / f"hadoop-client-api-{version}.jar").exists()
    assert s3a_package() == f"org.apache.hadoop:hadoop-aws:{version}"


def test_a_session_without_hadoop_aws_is_one_line_saying_what_to_add(spark_session: Any) -> None:
    engine = create_engine("s3://bucket/lake", "spark", session=spark_session)
    with pytest.raises(ConfigError, match=r"without hadoop-aws.*org\.apache\.hadoop:hadoop-aws:"):
        engine.spark  # noqa: B018
