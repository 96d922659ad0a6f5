"""Bad input on a store: a missing bucket or container, a wrong credential, an endpoint
that does not answer — each one line naming the URI and what to check, nothing written;
and a secret given in the environment or shoplake.toml never reaches the lake or the
terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from emulators import AZURITE_ACCOUNT, AZURITE_KEY, TINY, Store, cli, one_error_line
from tiny_shop import order_lines

pytestmark = pytest.mark.slow


def test_a_missing_bucket_or_container_is_one_line_naming_it(store: Store, tmp_path: Path) -> None:
    missing = store.uri("lake").replace(store.bucket, "no-such-place")
    done = cli(store, tmp_path, "run", "--lake", missing, "--landing", store.uri("landing"), *TINY)
    line = one_error_line(done)
    assert "'no-such-place' does not exist" in line and missing.split("?")[0] in line


def test_a_wrong_credential_is_one_line_and_nothing_is_written(
    store: Store, tmp_path: Path
) -> None:
    if store.kind == "s3":
        pytest.skip("moto's server accepts any credentials")
    store.put("landing/orders/a.jsonl", order_lines("a", 5))
    wrong = "V3JvbmdXcm9uZ1dyb25nV3JvbmdXcm9uZ1dyb25nV3JvbmdXcm9uZ1dyb25nV3Jvbmc="
    done = cli(
        store,
        tmp_path,
        *("run", "--lake", store.uri("lake"), "--landing", store.uri("landing"), *TINY),
        extra_env={"SHOPLAKE_STORAGE_AZURE_STORAGE_ACCOUNT_KEY": wrong},
    )
    line = one_error_line(done)
    assert "refused the credentials" in line and "AZURE_STORAGE_ACCOUNT_KEY" in line
    assert wrong not in done.stdout + done.stderr
    assert store.keys() == ["landing/orders/a.jsonl"]


def test_an_endpoint_that_does_not_answer_is_one_line(store: Store, tmp_path: Path) -> None:
    if store.kind != "s3":
        pytest.skip("one store is enough: the same client code")
    done = cli(
        store,
        tmp_path,
        *("run", "--lake", store.uri("lake"), "--landing", store.uri("landing"), *TINY),
        extra_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
    )
    assert "could not be reached" in one_error_line(done)


def test_a_secret_reaches_no_file_of_the_lake_and_no_output(store: Store, tmp_path: Path) -> None:
    if store.kind == "s3":
        # moto takes any secret: one only this test knows, given in the environment.
        secret = "Sup3rS3cretValue-7f3a9c"
        extra = {"SHOPLAKE_STORAGE_AWS_SECRET_ACCESS_KEY": secret, "AWS_SECRET_ACCESS_KEY": ""}
    else:
        # Azurite checks the key: the real one, given in shoplake.toml.
        secret = AZURITE_KEY
        (tmp_path / "shoplake.toml").write_text(
            "[storage]\n"
            f'azure_storage_account_name = "{AZURITE_ACCOUNT}"\n'
            f'azure_storage_account_key = "{secret}"\n'
        )
        extra = {}
    for n in range(3):
        store.put(f"landing/orders/o{n}.jsonl", order_lines(f"o{n}", 20))
    lake, landing = store.uri("lake"), store.uri("landing")
    outputs = []
    for command in (
        ["run", "--lake", lake, "--landing", landing, *TINY],
        ["tables", "--lake", lake],
        ["events", "--lake", lake],
        ["batches", "--lake", lake],
        ["files", "--lake", lake],
        ["run", "--lake", store.uri("lake").replace(store.bucket, "missing"), *TINY],
        ["run", "--lake", lake, "--landing", landing, "--debug", *TINY],
    ):
        done = cli(store, tmp_path, *command, extra_env=extra)
        outputs.append(done.stdout + done.stderr)
    assert "silver" in outputs[1]  # the commands did reach the lake
    for output in outputs:
        assert secret not in output
    keys = store.keys()
    assert any(k.startswith("lake/_system/") for k in keys)
    leaked = [k for k in keys if secret.encode() in store.read(k)]
    assert leaked == []


def test_an_unknown_storage_setting_is_one_line(store: Store, tmp_path: Path) -> None:
    if store.kind != "s3":
        pytest.skip("one store is enough")
    (tmp_path / "shoplake.toml").write_text('[storage]\naws_no_such_setting = "1"\n')
    done = cli(store, tmp_path, "run", "--lake", store.uri("lake"), *TINY)
    assert "aws_no_such_setting" in one_error_line(done)
