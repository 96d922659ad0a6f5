"""Real object-store emulators for the tests: Azurite (Azure Blob) and moto's S3 server.

Each starts once per test session on a free loopback port (``conftest.py``). A test
gets a :class:`Store`: a fresh bucket or container, the environment a shoplake
process needs to reach it (the standard variables a user would set), and helpers
to upload, list and read objects.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ["--pipeline", "fixed_shop:build"]  # tests/objstore/fixed_shop.py
AZURITE = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published development key (not a secret: every emulator has it).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the emulator exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the emulator did not listen on port {port} within {timeout}s")


@dataclass
class Emulator:
    kind: str  # "s3" or "azure"
    port: int
    process: subprocess.Popen[bytes]
    requests: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_moto(workdir: Path) -> Emulator:
    port = free_port()
    log = (workdir / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, process)
    return Emulator("s3", port, process)


def start_azurite(workdir: Path) -> Emulator:
    port = free_port()
    log = (workdir / "azurite.log").open("wb")
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(workdir / "azurite"),
            "--skipApiVersionCheck",
            "--silent",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, process)
    return Emulator("azure", port, process)


@dataclass
class Store:
    """A fresh bucket (S3) or container (Azure) on an emulator, as a user would reach it."""

    emulator: Emulator
    bucket: str
    endpoint: str  # where shoplake sends requests: the emulator, or a proxy in front of it
    # S3: the access key and secret (moto takes any, unless it enforces IAM).
    credentials: tuple[str, str] = ("testing", "testing")

    @property
    def kind(self) -> str:
        return self.emulator.kind

    def uri(self, key: str) -> str:
        if self.kind == "s3":
            return f"s3://{self.bucket}/{key}"
        # ADLS Gen2's own form; az://container/key reaches the same objects.
        return f"abfss://{self.bucket}@{AZURITE_ACCOUNT}.dfs.core.windows.net/{key}"

    def env(self) -> dict[str, str]:
        """The standard variables a user sets for this store (no shoplake-specific ones)."""
        if self.kind == "s3":
            return {
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": self.credentials[0],
                "AWS_SECRET_ACCESS_KEY": self.credentials[1],
                "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        return {
            "AZURE_STORAGE_USE_EMULATOR": "true",
            "AZURITE_BLOB_STORAGE_URL": self.endpoint,
            "AZURE_STORAGE_ACCOUNT_NAME": AZURITE_ACCOUNT,
        }

    def create(self) -> None:
        if self.kind == "s3":
            self._s3().create_bucket(Bucket=self.bucket)
        else:
            self._azure().create_container(self.bucket)

    def _s3(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.emulator.endpoint,
            aws_access_key_id=self.credentials[0],
            aws_secret_access_key=self.credentials[1],
            region_name="us-east-1",
        )

    def _azure(self):  # type: ignore[no-untyped-def]
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.emulator.endpoint}/{AZURITE_ACCOUNT};"
        )

    def keys(self, prefix: str = "") -> list[str]:
        if self.kind == "s3":
            pages = self._s3().get_paginator("list_objects_v2")
            found = pages.paginate(Bucket=self.bucket, Prefix=prefix)
            return sorted(o["Key"] for page in found for o in page.get("Contents", []))
        container = self._azure().get_container_client(self.bucket)
        return sorted(b.name for b in container.list_blobs(name_starts_with=prefix))

    def read(self, key: str) -> bytes:
        if self.kind == "s3":
            return bytes(self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read())
        container = self._azure().get_container_client(self.bucket)
        return bytes(container.download_blob(key).readall())

    def put(self, key: str, data: bytes) -> None:
        if self.kind == "s3":
            self._s3().put_object(Bucket=self.bucket, Key=key, Body=data)
        else:
            self._azure().get_container_client(self.bucket).upload_blob(key, data, overwrite=True)

    def upload(self, folder: Path, prefix: str) -> int:
        """Every data file under ``folder`` to ``prefix/<relative path>``; how many (the
        generator's own notes in ``_generator/`` stay behind)."""
        count = 0
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.relative_to(folder).as_posix().startswith("_"):
                self.put(f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())
                count += 1
        return count


def new_store(
    emulator: Emulator, endpoint: str | None = None, credentials: tuple[str, str] | None = None
) -> Store:
    name = f"t{uuid.uuid4().hex[:12]}"
    store = Store(emulator, name, endpoint or emulator.endpoint, credentials or Store.credentials)
    store.create()
    return store


def cli(
    store: Store,
    cwd: Path,
    *args: str,
    extra_env: dict[str, str] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """``shoplake <args>`` in a new process, with the store's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE", "SHOPLAKE_"))}
    env.update(store.env())
    env.update(extra_env or {})
    command = [sys.executable, "-m", "shoplake.cli", *args]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


TINY = ["--pipeline", "tiny_shop:build"]  # tests/objstore/tiny_shop.py


def endpoint_env(store: Store, url: str) -> dict[str, str]:
    """The variable that sends a process's requests for ``store`` to ``url`` (a proxy)."""
    key = "AWS_ENDPOINT_URL" if store.kind == "s3" else "AZURITE_BLOB_STORAGE_URL"
    return {key: url}


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``Error: ...`` line of a failed command, with no traceback anywhere."""
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stdout + result.stderr
    for noise in ("Traceback", "panicked", "stack backtrace", "↳"):
        assert noise not in result.stdout + result.stderr
    return errors[0]
