"""A real single-node Apache Kafka 4 broker in KRaft mode, started from the jars that
``scripts/kafka-broker.sh`` fetched, on loopback ports: a plain listener and a
SASL/PLAIN one set up the way Azure Event Hubs' Kafka endpoint is (user
``$ConnectionString``, the connection string as the password)."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBS = ROOT / ".cache" / "kafka" / "libs"
SASL_USER = "$ConnectionString"
SASL_PASSWORD = (
    "Endpoint=sb://shoplake-test.servicebus.windows.net/;SharedAccessKeyName=listen;"
    "SharedAccessKey=" + "k3y" * 10
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """``start()``, ``stop()``, ``restart()`` keep the same ports and log directory, so a
    restart is the same broker coming back, with every topic and offset it had."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port, self.sasl_port, self.controller_port = (_free_port() for _ in range(3))
        self.process: subprocess.Popen[bytes] | None = None
        self.log = work / "broker.log"
        work.mkdir(parents=True, exist_ok=True)
        self.properties = work / "server.properties"
        self.properties.write_text(self._config())
        self._java("kafka.tools.StorageTool", "format", "-t", _cluster_id(),
                   "-c", str(self.properties), "--standalone")  # fmt: skip

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"

    def _config(self) -> str:
        jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{SASL_USER}="{SASL_PASSWORD}";'
        )
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port},"
                f"CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},"
                f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,"
                "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
                "sasl.enabled.mechanisms=PLAIN",
                f"listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}",
                f"log.dirs={self.work / 'data'}",
                "num.partitions=4",
                "auto.create.topics.enable=true",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.check.interval.ms=500",
                "log.initial.task.delay.ms=0",
                "",
            ]
        )

    def _java(self, main: str, *args: str) -> None:
        subprocess.run(
            ["java", "-Xmx256m", "-cp", f"{LIBS}/*", main, *args],
            check=True,
            capture_output=True,
        )

    def start(self, timeout: float = 60) -> None:
        log4j = self.work / "log4j.properties"
        log4j.write_text(
            "log4j.rootLogger=WARN, file\n"
            "log4j.appender.file=org.apache.log4j.FileAppender\n"
            f"log4j.appender.file.File={self.log}\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=%d %p %c: %m%n\n"
        )
        self.process = subprocess.Popen(
            [
                "java",
                "-Xmx512m",
                "-XX:+UseSerialGC",
                f"-Dlog4j.configuration=file:{log4j}",
                "-cp",
                f"{LIBS}/*",
                "kafka.Kafka",
                str(self.properties),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.work / "broker.err").open("ab"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited: see {self.work}/broker.err")
            if _listening(self.port) and _listening(self.sasl_port):
                return
            time.sleep(0.2)
        raise TimeoutError(f"the Kafka broker did not listen within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _cluster_id() -> str:
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def available() -> bool:
    return (LIBS / ".complete").exists()
