"""Real Spark services on loopback for the tests: a standalone master and one worker
(separate JVMs), and a Spark Connect server with Delta, all from the pyspark package."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyspark

from shoplake.engines.spark_session import delta_package, ivy_cache

SPARK_HOME = Path(pyspark.__file__).parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout} s: {log}")


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": HOST}
    with log.open("wb") as out:
        # A process group of its own: stopping it stops the JVM the script started.
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def standalone_cluster(logs: Path) -> Iterator[str]:
    """A master and one worker (1 core, 1 GB): yields ``spark://127.0.0.1:PORT``."""
    port, ui, worker_ui = free_port(), free_port(), free_port()
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    master = _start(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", HOST,
         "--port", str(port), "--webui-port", str(ui)],
        logs / "master.log",
    )  # fmt: skip
    worker = None
    try:
        _wait_for_port(port, master, logs / "master.log", 60)
        url = f"spark://{HOST}:{port}"
        worker = _start(
            [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", HOST,
             "--cores", "1", "--memory", "1g", "--webui-port", str(worker_ui),
             "--work-dir", str(logs / "work")],
            logs / "worker.log",
        )  # fmt: skip
        _wait_for_port(worker_ui, worker, logs / "worker.log", 60)
        yield url
    finally:
        if worker is not None:
            _stop(worker)
        _stop(master)


@contextmanager
def connect_server(logs: Path) -> Iterator[str]:
    """A local Spark Connect server with Delta: yields ``sc://127.0.0.1:PORT``."""
    port = free_port()
    server = _start(
        [str(SPARK_HOME / "bin" / "spark-submit"),
         "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
         "--master", "local[2]",
         "--packages", delta_package(),
         "--conf", f"spark.jars.ivy={ivy_cache()}",
         "--conf", f"spark.connect.grpc.binding.port={port}",
         "--conf", f"spark.connect.grpc.binding.address={HOST}",
         "--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
         "--conf",
         "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
         "--conf", "spark.sql.shuffle.partitions=2",
         "--conf", "spark.ui.enabled=false",
         "spark-internal"],
        logs / "connect.log",
    )  # fmt: skip
    try:
        _wait_for_port(port, server, logs / "connect.log", 120)
        yield f"sc://{HOST}:{port}"
    finally:
        _stop(server)
