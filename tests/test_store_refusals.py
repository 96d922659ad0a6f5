"""A store's 403 read apart: a permission missing on one key names that key's URI and the
policies to check; credentials refused keep the credentials message. The texts are what
object_store (through obstore and delta-rs) wrote for real refusals by moto and Azurite."""

from __future__ import annotations

import pytest

from shoplake.engines.storage_errors import explain
from shoplake.stores import explain_store, permission_denied

URL = "http://127.0.0.1:9000/shop"
S3_DENIED_PUT = (
    "The operation lacked the necessary privileges to complete for path archive/d/b/o0.jsonl: "
    f"Error performing PUT {URL}/archive/d/b/o0.jsonl in 4ms - Server returned non-2xx status "
    'code: 403 Forbidden: <?xml version="1.0" encoding="utf-8"?>\n'
    "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>\n\nDebug source:"
)
S3_HEAD = (
    "The operation lacked the necessary privileges to complete for path archive/d/b/o0.jsonl: "
    f"Error performing HEAD {URL}/archive/d/b/o0.jsonl in 2ms - Server returned non-2xx status "
    "code: 403 Forbidden: \n\nDebug source:"
)
S3_WRONG_KEY = S3_DENIED_PUT.replace("AccessDenied", "InvalidAccessKeyId")
# delta-rs: the path ends its line, the answer follows on the next ones.
DELTA_DENIED = (
    "Failed to parse parquet: External: The operation lacked the necessary privileges to "
    "complete for path lake/gold/totals/part-0.parquet\n"
    f"  Error performing PUT {URL}/lake/gold/totals/part-0.parquet\n  403 Forbidden\n"
    "<Error><Code>AccessDenied</Code></Error>"
)
AZURE = "abfss://shop@acct.dfs.core.windows.net"
AZURE_FAILURE = (  # Azurite's answer to a wrong account key (Azure's to a firewall rule)
    "The operation lacked the necessary privileges to complete for path lake/x\n"
    "  Error performing GET http://127.0.0.1:10000/acct/shop/lake/x\n  403 Forbidden\n"
    "<Error>\n  <Code>AuthorizationFailure</Code>\n</Error>"
)


def test_an_access_denied_names_the_object_and_the_policies() -> None:
    line = explain_store(OSError(S3_DENIED_PUT), ["s3://shop/lake", "s3://shop/landing"])
    assert line is not None
    assert line.startswith("permission denied on s3://shop/archive/d/b/o0.jsonl: check that ")
    assert "IAM policies" in line and "AWS_ACCESS_KEY_ID" not in line
    assert "Nothing was written" not in line  # the tables before it stay committed


def test_a_bodiless_403_also_says_to_check_the_credentials() -> None:
    line = permission_denied(S3_HEAD, "s3://shop/lake")
    assert line is not None and "s3://shop/archive/d/b/o0.jsonl" in line
    assert "right ones (AWS_ACCESS_KEY_ID" in line


@pytest.mark.parametrize("text", [S3_WRONG_KEY, AZURE_FAILURE])
def test_credentials_refused_are_no_permission_on_a_prefix(text: str) -> None:
    lake = AZURE + "/lake" if "AuthorizationFailure" in text else "s3://shop/lake"
    assert permission_denied(text, lake) is None
    line = explain_store(OSError(text), [lake])
    assert line is not None and "refused the credentials" in line


def test_azure_rbac_denied_names_the_path() -> None:
    text = AZURE_FAILURE.replace("AuthorizationFailure", "AuthorizationPermissionMismatch")
    line = permission_denied(text, AZURE + "/lake")
    assert line is not None and line.startswith(f"permission denied on {AZURE}/lake/x: ")
    assert "role assignments" in line


def test_a_table_names_its_own_uri_and_says_nothing_of_it_was_committed() -> None:
    line = explain("gold.totals", "s3://shop/lake/gold/totals", OSError(DELTA_DENIED))
    assert line is not None
    assert line.startswith("permission denied on s3://shop/lake/gold/totals/: check that ")
    assert line.endswith(
        "nothing of gold.totals was committed, and a run once it is allowed builds it"
    )


def test_a_local_table_is_not_read_as_a_store_refusal() -> None:
    assert explain("gold.totals", "/tmp/lake/gold/totals", OSError(DELTA_DENIED)) is None
