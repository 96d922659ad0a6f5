"""A permission denied on one prefix of a bucket: one line naming the URI and what to check,
nothing lost or half-written, and once the permission is granted the rerun converges.

moto's server checks IAM when told to: every request is then authenticated (signed with an
IAM user's access key) and authorized against that user's (and groups') policies, an
object request (GET and HEAD: s3:GetObject, PUT and a copy's destination: s3:PutObject,
DELETE: s3:DeleteObject) against ``arn:aws:s3:::<bucket>/<key>``, so a policy can refuse
one prefix. What it does not evaluate: a listing and a multi-object delete are authorized
against the bucket's ARN only, conditions (``s3:prefix``) are ignored, bucket policies are
not consulted. The session's shared server stays open to anyone; this module starts its
own.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from emulators import TINY, Emulator, Store, cli, new_store, one_error_line, start_moto
from tiny_shop import order_lines

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
FILES, ROWS = 3, 20
KEPT = FILES * ROWS * 9 // 10  # every tenth order is quarantined (tiny_shop)


@dataclass
class Iam:
    """moto enforcing IAM, and an administrator allowed everything (the tests' own view)."""

    emulator: Emulator
    admin: tuple[str, str]

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.emulator.endpoint,
            aws_access_key_id=self.admin[0],
            aws_secret_access_key=self.admin[1],
            region_name="us-east-1",
        )

    def user(self, name: str, policy: dict[str, Any]) -> dict[str, str]:
        """A new IAM user with ``policy`` inline: the variables a process uses to be it."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        self.allow(name, policy)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }

    def allow(self, name: str, policy: dict[str, Any]) -> None:
        """Replace the user's inline policy (how a permission is granted later)."""
        document = json.dumps(policy)
        self.client("iam").put_user_policy(
            UserName=name, PolicyName="lake", PolicyDocument=document
        )


def policy(
    bucket: str, *, deny: str | None = None, actions: tuple[str, ...] = ("s3:*",)
) -> dict[str, Any]:
    """Everything on ``bucket``, but ``actions`` on the keys under ``deny``."""
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        }
    ]
    if deny is not None:
        resource = f"arn:aws:s3:::{bucket}/{deny}*"
        statements.append({"Effect": "Deny", "Action": list(actions), "Resource": resource})
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.fixture(scope="module")
def iam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Iam]:
    pytest.importorskip("moto", reason="moto[server] comes with the dev extra")
    emulator = start_moto(tmp_path_factory.mktemp("moto_iam"))
    try:
        anyone = Iam(emulator, ("testing", "testing"))
        everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        admin = anyone.user("admin", {"Version": "2012-10-17", "Statement": [everything]})
        # From here on every request is checked. The endpoint the documented
        # set_initial_no_auth_action_count uses against a server: it starts checking at a
        # known point, where INITIAL_NO_AUTH_ACTION_COUNT would count this setup's requests.
        reset = urllib.request.Request(
            f"{emulator.endpoint}/moto-api/reset-auth",
            data=b"0",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(reset, timeout=10) as answer:
            assert json.load(answer)["status"] == "ok"
        yield Iam(emulator, (admin["AWS_ACCESS_KEY_ID"], admin["AWS_SECRET_ACCESS_KEY"]))
    finally:
        emulator.stop()


@pytest.fixture
def bucket(iam: Iam, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A fresh bucket the administrator sees, with ``FILES`` order files in its landing."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    store = new_store(iam.emulator, credentials=iam.admin)
    for n in range(FILES):
        store.put(f"landing/orders/o{n}.jsonl", order_lines(f"o{n}", ROWS))
    return store


def run(store: Store, cwd: Path, user: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = ["run", "--lake", store.uri("lake"), "--landing", store.uri("landing"), *TINY]
    return cli(store, cwd, *args, extra_env=user)


def table(store: Store, key: str) -> pl.DataFrame:
    return pl.read_delta(store.uri(key), storage_options=store.env())


def every_order() -> list[str]:
    return sorted(f"o{n}-{i}" for n in range(FILES) for i in range(ROWS))


def test_a_denied_archive_is_one_line_and_the_rerun_archives_every_file_once(
    iam: Iam, bucket: Store, tmp_path: Path
) -> None:
    name = f"no-archive-{bucket.bucket}"
    user = iam.user(name, policy(bucket.bucket, deny="archive/"))
    done = run(bucket, tmp_path, user)
    line = one_error_line(done)
    assert line.startswith(f"Error: permission denied on {bucket.uri('archive/')}"), line
    assert "check that the credentials may read and write that prefix" in line
    assert "right ones" not in line  # the store's answer said AccessDenied: no doubt left
    assert user["AWS_SECRET_ACCESS_KEY"] not in done.stdout + done.stderr
    # Nothing lost: each file is in bronze exactly once, and still in landing.
    assert sorted(table(bucket, "lake/bronze/orders")["order_id"]) == every_order()
    assert len(bucket.keys("landing/")) == FILES and bucket.keys("archive/") == []

    iam.allow(name, policy(bucket.bucket))
    again = run(bucket, tmp_path, user)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(table(bucket, "lake/bronze/orders")["order_id"]) == every_order()
    assert bucket.keys("landing/") == []
    archived = sorted(k.rpartition("/")[2] for k in bucket.keys("archive/"))
    assert archived == [f"o{n}.jsonl" for n in range(FILES)]
    assert table(bucket, "lake/gold/totals")["n"].to_list() == [KEPT]


def test_a_read_only_gold_prefix_fails_gold_alone_and_the_rerun_completes_it(
    iam: Iam, bucket: Store, tmp_path: Path
) -> None:
    writes = ("s3:PutObject", "s3:DeleteObject")
    name = f"no-gold-{bucket.bucket}"
    user = iam.user(name, policy(bucket.bucket, deny="lake/gold/", actions=writes))
    done = run(bucket, tmp_path, user)
    line = one_error_line(done)
    assert line.startswith(
        f"Error: gold.totals: permission denied on {bucket.uri('lake/gold/totals')}/: "
        "check that the credentials may read and write that prefix"
    ), line
    assert "nothing of gold.totals was committed" in line
    assert user["AWS_SECRET_ACCESS_KEY"] not in done.stdout + done.stderr
    # Bronze and silver committed, the files archived; of gold not one object.
    assert sorted(table(bucket, "lake/bronze/orders")["order_id"]) == every_order()
    assert table(bucket, "lake/silver/orders").height == KEPT
    assert bucket.keys("lake/gold/") == [] and bucket.keys("landing/") == []
    assert len(bucket.keys("archive/")) == FILES

    iam.allow(name, policy(bucket.bucket))
    again = run(bucket, tmp_path, user)
    assert again.returncode == 0, again.stdout + again.stderr
    assert table(bucket, "lake/gold/totals")["n"].to_list() == [KEPT]
    silver = table(bucket, "lake/silver/orders")
    assert silver.height == KEPT and silver["order_id"].n_unique() == KEPT
    assert sorted(table(bucket, "lake/bronze/orders")["order_id"]) == every_order()


def test_an_unknown_access_key_is_refused_credentials_not_a_permission(
    bucket: Store, tmp_path: Path
) -> None:
    wrong = {"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNUNKNOWN00", "AWS_SECRET_ACCESS_KEY": "W" * 40}
    done = run(bucket, tmp_path, wrong)
    line = one_error_line(done)
    assert "refused the credentials" in line and "AWS_ACCESS_KEY_ID" in line
    assert wrong["AWS_SECRET_ACCESS_KEY"] not in done.stdout + done.stderr
    assert "permission denied" not in line
    assert bucket.keys() == [f"landing/orders/o{n}.jsonl" for n in range(FILES)]
