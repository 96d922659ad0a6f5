"""A token's grants live and die with it; tokens expire; an old name starts from nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import write_deltalake
from serve_harness import Local
from typer.testing import CliRunner

from shoplake.cli import app
from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.errors import ConfigError
from shoplake.share import access
from shoplake.share.access import AccessControl, AccessError, create_token, grants, revoke_token

runner = CliRunner()


@pytest.fixture
def engine(tmp_path: Path) -> PolarsDeltaEngine:
    (tmp_path / "lake").mkdir()
    return PolarsDeltaEngine(str(tmp_path / "lake"))


def _grants_of(engine: PolarsDeltaEngine, token: str) -> list[tuple[str, str]]:
    caller = AccessControl(engine).authenticate(token)
    assert caller is not None
    return [(g.privilege, g.securable) for g in caller.grants]


def test_revoking_a_token_ends_its_grants(engine: PolarsDeltaEngine) -> None:
    create_token(engine, "ana", [("SELECT", "gold.*"), ("PII", "gold.dim_customer")])
    assert len(grants(engine, "ana")) == 2
    revoke_token(engine, "ana")
    assert grants(engine, "ana") == []


def test_a_new_token_under_a_revoked_name_starts_with_no_grant(engine: PolarsDeltaEngine) -> None:
    first = create_token(engine, "ana", [("SELECT", "*"), ("PII", "*")])
    revoke_token(engine, "ana")
    second = create_token(engine, "ana")
    assert AccessControl(engine).authenticate(first) is None
    assert _grants_of(engine, second) == []


def test_an_expired_token_is_refused_and_its_name_starts_over(
    engine: PolarsDeltaEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = create_token(engine, "ana", [("SELECT", "gold.*")], expires=timedelta(days=30))
    control = AccessControl(engine)
    assert control.authenticate(token) is not None
    later = access.utcnow() + timedelta(days=30, seconds=1)
    monkeypatch.setattr(access, "utcnow", lambda: later)
    assert control.authenticate(token) is None
    again = create_token(engine, "ana")  # allowed: the old one is no longer live
    assert _grants_of(engine, again) == []


def test_a_token_created_to_never_expire_still_works_much_later(
    engine: PolarsDeltaEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = create_token(engine, "robot", [("SELECT", "gold.*")], expires=None)
    later = access.utcnow() + timedelta(days=3650)
    monkeypatch.setattr(access, "utcnow", lambda: later)
    assert _grants_of(engine, token) == [("SELECT", "gold.*")]


def test_a_grant_needs_a_live_token(engine: PolarsDeltaEngine) -> None:
    with pytest.raises(AccessError, match="no live token named 'ghost': create it first"):
        access.grant(engine, "ghost", "SELECT", "gold.*")
    create_token(engine, "ana")
    revoke_token(engine, "ana")
    with pytest.raises(AccessError, match="no live token named 'ana'"):
        access.grant(engine, "ana", "SELECT", "gold.*")


def test_tokens_written_before_expiry_existed_still_work(engine: PolarsDeltaEngine) -> None:
    token = create_token(engine, "old", [("SELECT", "gold.*")], expires=None)
    table = engine.lake + "/_system/tokens"
    legacy = pl.read_delta(table).drop("expires_at")
    write_deltalake(table, legacy.to_arrow(), mode="overwrite", schema_mode="overwrite")
    assert _grants_of(engine, token) == [("SELECT", "gold.*")]
    create_token(engine, "new", expires=timedelta(days=1))  # writes the column back
    assert pl.read_delta(table).filter(pl.col("name") == "new")["expires_at"][0] is not None


@pytest.mark.parametrize("text", ["30x", "0d", "-1d", "soon", ""])
def test_an_expiry_that_is_not_a_duration_is_one_line(text: str) -> None:
    with pytest.raises(ConfigError, match="write a duration like 30d, 12h, 90m or 2w"):
        access.parse_expiry(text)


def test_the_command_takes_expires_and_a_default_from_the_serve_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lake").mkdir()
    made = runner.invoke(app, ["token", "create", "ana", "--lake", "lake", "--expires", "2w"])
    assert made.exit_code == 0, made.output
    assert "valid for 14 days" in made.output
    (tmp_path / "shoplake.toml").write_text('[serve]\ntoken_expiry = "12h"\n')
    made = runner.invoke(app, ["token", "create", "bob", "--lake", "lake"])
    assert made.exit_code == 0, made.output
    assert "valid for 12 hours" in made.output
    listed = runner.invoke(app, ["token", "list", "--lake", "lake"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and listed.output.count("never") == 0
    (tmp_path / "shoplake.toml").write_text('[serve]\ntoken_expiry = "soon"\n')
    bad = runner.invoke(app, ["token", "create", "cy", "--lake", "lake"])
    assert bad.exit_code == 1
    assert "[serve] token_expiry 'soon': write a duration like 30d" in bad.output
    (tmp_path / "shoplake.toml").write_text('[serve]\ntoken_expiri = "1d"\n')
    typo = runner.invoke(app, ["token", "create", "cy", "--lake", "lake"])
    assert "unknown key 'token_expiri' in [serve]; did you mean 'token_expiry'?" in typo.output


def test_the_server_refuses_an_expired_token_and_audits_it(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = PolarsDeltaEngine(str(local.lake))
    token = create_token(engine, "temp", [("SELECT", "gold.*")], expires=timedelta(days=1))
    path = "/api/2.1/unity-catalog/tables/shoplake.gold.fact_sales"
    headers = {"Authorization": f"Bearer {token}"}
    assert local.client.get(path, headers=headers).status_code == 200
    later = access.utcnow() + timedelta(days=1, seconds=1)
    monkeypatch.setattr(access, "utcnow", lambda: later)
    assert local.client.get(path, headers=headers).status_code == 401
    refused = local.audit().filter(pl.col("status") == 401, pl.col("action") == "get_table")
    assert refused.height >= 1 and not refused["allowed"].any()
