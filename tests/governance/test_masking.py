"""Masking by classification in ``sql``, exports and the report; ``--show-pii`` lifts it."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from shoplake.cli import app
from shoplake.governance.masking import MaskingPolicy

runner = CliRunner()
PEPPER = "a-secret-pepper-7f3c"


def _raw(lake: Path, column: str) -> set[str]:
    values = pl.read_delta(str(lake / "silver" / "customers"))[column].drop_nulls()
    return set(values.to_list())


def _sql(lake: Path, query: str, *extra: str) -> str:
    result = runner.invoke(app, ["sql", query, "--lake", str(lake), "--limit", "1000", *extra])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def hashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder whose shoplake.toml hashes e-mails, with the pepper in the env."""
    (tmp_path / "shoplake.toml").write_text('[masking]\nemail = "hash"\nname = "null"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOPLAKE_PII_PEPPER", PEPPER)
    return tmp_path


def test_sql_masks_emails_by_default(demo_lake: Path) -> None:
    out = _sql(demo_lake, "SELECT email, phone, first_name FROM silver.customers")
    emails = _raw(demo_lake, "email")
    assert emails and not any(e in out for e in emails)
    assert "***@" in out  # partial: the first letter and the domain
    assert not any(p in out for p in _raw(demo_lake, "phone"))
    assert not any(f"│ {n} " in out for n in _raw(demo_lake, "first_name"))


def test_show_pii_shows_them(demo_lake: Path) -> None:
    out = _sql(demo_lake, "SELECT email FROM silver.customers ORDER BY email", "--show-pii")
    assert sorted(_raw(demo_lake, "email"))[0] in out


def test_hashed_values_join_across_tables(demo_lake: Path, hashing: Path) -> None:
    query = (
        "SELECT count(*) AS n, min(c.email) AS sample FROM silver.customers c "
        "JOIN gold.dim_customer d ON c.email = d.email"
    )
    masked = _sql(demo_lake, query)
    shown = _sql(demo_lake, query, "--show-pii")
    count = next(ln for ln in shown.splitlines() if "│" in ln and "@" in ln).split("│")[1]
    assert count.strip() and count in masked  # the same number of matches
    assert "h:" in masked and "@" not in masked
    assert PEPPER not in masked
    expected = MaskingPolicy({"email": "hash"}, pepper=PEPPER).mask("email")
    assert expected(sorted(_raw(demo_lake, "email"))[0]) is not None


def test_exports_are_masked_and_never_hold_the_pepper(demo_lake: Path, hashing: Path) -> None:
    out = hashing / "customers.csv"
    query = "SELECT * EXCLUDE (_scd_changes) FROM silver.customers"
    result = runner.invoke(app, ["sql", query, "--lake", str(demo_lake), "--out", str(out)])
    assert result.exit_code == 0, result.output
    exported = pl.read_csv(out)
    assert exported["email"].drop_nulls().str.starts_with("h:").all()
    assert exported["first_name"].null_count() == exported.height  # name = "null"
    text = out.read_text()
    assert PEPPER not in text
    assert not any(e in text for e in _raw(demo_lake, "email"))


def test_hash_without_a_pepper_is_one_line(
    demo_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shoplake.toml").write_text('[masking]\nemail = "hash"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHOPLAKE_PII_PEPPER", raising=False)
    result = runner.invoke(app, ["sql", "SELECT 1", "--lake", str(demo_lake)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: masking: email = 'hash' needs a secret pepper in the environment variable "
        "SHOPLAKE_PII_PEPPER (never in shoplake.toml)"
    )


def test_the_report_shows_no_unmasked_pii(demo_lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "shop.html"
    result = runner.invoke(app, ["report", "--lake", str(demo_lake), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    for column in ("email", "phone"):
        leaked = [v for v in _raw(demo_lake, column) if v in html]
        assert leaked == [], column
    people = pl.read_delta(str(demo_lake / "silver" / "customers"))
    full_names = {f"{r['first_name']} {r['last_name']}" for r in people.iter_rows(named=True)}
    assert [n for n in full_names if n in html] == []


def test_the_dashboards_reader_masks_by_classification(demo_lake: Path) -> None:
    from shoplake.observe.lake import LakeReader

    policy = MaskingPolicy({"email": "partial", "name": "redact", "phone": "null"})
    frame = LakeReader(str(demo_lake), masking=policy).read("silver.customers")
    assert frame is not None
    assert set(frame["first_name"].drop_nulls()) == {"***"}
    assert frame["phone"].null_count() == frame.height
    assert frame["email"].drop_nulls().str.contains(r"^.\*\*\*@").all()
    assert (
        frame["city"].to_list()
        == pl.read_delta(str(demo_lake / "silver" / "customers"))["city"].to_list()
    )  # not classified: shown as stored
