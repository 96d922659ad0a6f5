"""The object-store emulators, started once per test session, and a fresh store per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulators import AZURITE, PIPELINE, Emulator, Store, new_store, start_azurite, start_moto

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def moto_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    pytest.importorskip("moto", reason="moto[server] comes with the dev extra")
    emulator = start_moto(tmp_path_factory.mktemp("moto"))
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def azurite_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    if not AZURITE.exists():
        pytest.skip(f"Azurite is not installed at {AZURITE}: scripts/test.sh installs it")
    emulator = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield emulator
    emulator.stop()


@pytest.fixture(params=["s3", "azure"])
def emulator(request: pytest.FixtureRequest) -> Emulator:
    name = "moto_emulator" if request.param == "s3" else "azurite_emulator"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def store(emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Store:
    """A fresh bucket or container; this process reaches it through the same standard
    variables a user would set, and runs in ``tmp_path`` (its own shoplake.toml)."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "AZURE", "SHOPLAKE_")):
            monkeypatch.delenv(name)
    made = new_store(emulator)
    for key, value in made.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    return made


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated landing files (150 orders) and the lake a local-disk run builds of them."""
    root = tmp_path_factory.mktemp("objstore_shop")
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    base = [sys.executable, "-m", "shoplake.cli"]
    generated = [*base, "generate", "--landing", str(root / "landing"), "--orders", "150"]
    subprocess.run([*generated, "--seed", "5"], cwd=root, env=env, check=True, capture_output=True)
    shutil.copytree(root / "landing", root / "pristine")
    run = [*base, "run", "--lake", str(root / "lake"), "--landing", str(root / "landing")]
    done = subprocess.run([*run, *PIPELINE], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"landing": root / "pristine", "lake": root / "lake"}
