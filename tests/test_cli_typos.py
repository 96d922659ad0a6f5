"""A typo never passes silently: each mistake a user can write in ``shoplake.toml``, a
``SHOPLAKE_*`` variable, a path or an address is one line naming it and the fix, exit 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplake.cli import app

runner = CliRunner()


@dataclass(frozen=True)
class Mistake:
    name: str
    args: list[str]
    says: list[str]
    toml: str = ""
    env: dict[str, str] = field(default_factory=dict)


MISTAKES = [
    Mistake(
        "misspelt key",
        ["run"],
        ["shoplake.toml:2: unknown key 'lak' in [shoplake]; did you mean 'lake'?"],
        '[shoplake]\nlak = "x"\n',
    ),
    Mistake(
        "misspelt top-level key",
        ["run"],
        ["shoplake.toml:1: unknown key 'engne'; did you mean 'engine'?"],
        'engne = "spark"\n',
    ),
    Mistake(
        "key above the [shoplake] header",
        ["run"],
        ["shoplake.toml:1: 'lake' is outside any section; move it under [shoplake]"],
        'lake = "x"\n[shoplake]\nengine = "polars"\n',
    ),
    Mistake(
        "misspelt section",
        ["run"],
        ["shoplake.toml:3: unknown section [alert]; did you mean [alerts]?"],
        '[shoplake]\nlake = "lake"\n[alert]\nwebhook_url = "https://hooks.example.com/x"\n',
    ),
    Mistake(
        "misspelt alerts key",
        ["tables"],
        ["shoplake.toml:2: unknown key 'webhok_url' in [alerts]; did you mean 'webhook_url'?"],
        '[alerts]\nwebhok_url = "https://hooks.example.com/x"\n',
    ),
    Mistake(
        "misspelt alert channel",
        ["tables"],
        ["unknown alert channel 'webhok'; did you mean 'webhook'?"],
        '[alerts]\nwebhook_url = "https://h.example.com"\n[alerts.channels.webhok]\n'
        'min_severity = "critical"\n',
    ),
    Mistake(
        "misspelt lineage key",
        ["tables"],
        ["shoplake.toml:3: unknown key 'urll' in [lineage]; did you mean 'url'?"],
        '[lineage]\ntransport = "http"\nurll = "http://localhost:5000"\n',
    ),
    Mistake(
        "misspelt spark key",
        ["tables"],
        ["unknown key 'mastr' in [spark]; did you mean 'master'?"],
        '[spark]\nmastr = "local[2]"\n',
    ),
    Mistake(
        "misspelt storage key",
        ["tables"],
        ["[storage]: unknown setting 'aws_endpont_url' for the S3 store"],
        '[storage]\naws_endpont_url = "http://localhost:9000"\n',
    ),
    Mistake(
        "misspelt masking class",
        ["validate"],
        ["[masking] emial: no column of pipeline 'ecommerce' has PII class 'emial'", "'email'?"],
        '[masking]\nemial = "hash"\n',
    ),
    Mistake(
        "unknown masking method",
        ["tables"],
        ["[masking] email = 'hashed': use one of redact, hash, partial, null"],
        '[masking]\nemail = "hashed"\n',
    ),
    Mistake(
        "misspelt variable",
        ["run"],
        ["unknown variable SHOPLAKE_ENGNE", "did you mean SHOPLAKE_ENGINE?"],
        env={"SHOPLAKE_ENGNE": "spark"},
    ),
    Mistake(
        "misspelt alerts variable",
        ["run"],
        ["unknown variable SHOPLAKE_ALERTS_WEBHOK_URL", "mean SHOPLAKE_ALERTS_WEBHOOK_URL?"],
        env={"SHOPLAKE_ALERTS_WEBHOK_URL": "https://h.example.com"},
    ),
    Mistake(
        "wrong type",
        ["run"],
        ["'max_files' must be a whole number, got '10'"],
        '[shoplake]\nmax_files = "10"\n',
    ),
    Mistake(
        "negative number",
        ["run"],
        ["retention_days = -1 (shoplake.toml:2): must be 0 or more"],
        "[shoplake]\nretention_days = -1\n",
    ),
    Mistake(
        "zero files per batch",
        ["run"],
        ["max_files = 0 (shoplake.toml:2): must be 1 or more"],
        "[shoplake]\nmax_files = 0\n",
    ),
    Mistake(
        "zero parallelism in the environment",
        ["run"],
        ["parallelism = 0 (SHOPLAKE_PARALLELISM): must be 1 or more"],
        env={"SHOPLAKE_PARALLELISM": "0"},
    ),
    Mistake(
        "unknown archive mode",
        ["run"],
        ["archive = 'mvoe' (shoplake.toml:2): use one of move, delete, leave"],
        '[shoplake]\narchive = "mvoe"\n',
    ),
    Mistake(
        "negative lineage timeout",
        ["tables"],
        ["[lineage] timeout must be 0 or more, got -1.0"],
        '[lineage]\ntransport = "console"\ntimeout = -1\n',
    ),
    Mistake(
        "negative freshness SLA",
        ["tables"],
        ["[alerts]", "sla_minutes.gold.*", "greater than or equal to 0"],
        '[alerts.sla_minutes]\n"gold.*" = -5\n',
    ),
    Mistake(
        "alert channel without its URL",
        ["tables"],
        ["[alerts.channels.webhook] is set but [alerts] has no webhook_url", "set webhook_url"],
        '[alerts.channels.webhook]\nmin_severity = "critical"\n',
    ),
    Mistake(
        "e-mail without a server",
        ["tables"],
        ["[alerts] email_to is set but smtp_host is not"],
        '[alerts]\nemail_to = ["ops@example.com"]\n',
    ),
    Mistake(
        "webhook that is not a URL",
        ["tables"],
        ["[alerts] webhook_url does not start with http:// or https://", "https://host/path"],
        env={"SHOPLAKE_ALERTS_WEBHOOK_URL": "hooks.example.com/x"},
    ),
    Mistake(
        "landing that does not exist (flag)",
        ["run", "--landing", "nowhere"],
        ["--landing nowhere: no such folder", "`shoplake run --create`"],
    ),
    Mistake(
        "landing that does not exist (file)",
        ["run"],
        ["landing missing (from shoplake.toml:2): no such folder"],
        '[shoplake]\nlanding = "missing"\n',
    ),
    Mistake(
        "watched landing that does not exist",
        ["watch", "--landing", "nowhere", "--interval", "1"],
        ["--landing nowhere: no such folder"],
    ),
    Mistake(
        "lake that does not exist (tables)",
        ["tables", "--lake", "no-lake"],
        ["--lake no-lake: no such folder", "a lake is made by `shoplake run`"],
    ),
    Mistake(
        "lake that does not exist (status)",
        ["status", "--lake", "no-lake"],
        ["--lake no-lake: no such folder"],
    ),
    Mistake(
        "lake that does not exist (environment)",
        ["sql", "select 1"],
        ["lake no-lake (from SHOPLAKE_LAKE): no such folder"],
        env={"SHOPLAKE_LAKE": "no-lake"},
    ),
    Mistake(
        "abfss URI without an account",
        ["tables", "--lake", "abfss://container/lake"],
        ["--lake abfss://container/lake: no storage account", "<container>@<account>"],
    ),
    Mistake(
        "malformed S3 URI",
        ["run", "--lake", "s3:///lake"],
        ["--lake s3:///lake: Generic URL error"],
    ),
    Mistake(
        "cron that never fires",
        ["watch", "--cron", "0 0 30 2 *"],
        ["--cron '0 0 30 2 *' never fires"],
    ),
    Mistake(
        "unreachable broker",
        ["stream", "--bootstrap", "127.0.0.1:1", "--connect-timeout", "1"],
        ["no broker answered at 127.0.0.1:1 within 1s", "check --bootstrap HOST:PORT"],
    ),
    Mistake(
        "unreachable broker (produce)",
        ["produce", "--bootstrap", "127.0.0.1:1", "--connect-timeout", "1", "--count", "5"],
        ["no broker answered at 127.0.0.1:1 within 1s", "check --bootstrap HOST:PORT"],
    ),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder with a landing folder, as the current folder; no SHOPLAKE_* or
    Azure account variable of the test run leaks into a case."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("SHOPLAKE_") or name.startswith("AZURE_STORAGE_ACCOUNT"):
            monkeypatch.delenv(name)
    (tmp_path / "landing").mkdir()
    return tmp_path


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_each_mistake_is_one_line_naming_it_and_exit_1(
    mistake: Mistake, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mistake.toml:
        (workdir / "shoplake.toml").write_text(mistake.toml)
    for name, value in mistake.env.items():
        monkeypatch.setenv(name, value)
    started = time.monotonic()
    result = runner.invoke(app, mistake.args)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for words in mistake.says:
        assert words in errors[0], result.output
    assert "Traceback" not in result.output
    assert time.monotonic() - started < 15
    # Nothing was made on the way to the error.
    assert not (workdir / "lake").exists()


def test_a_webhook_url_without_its_scheme_is_not_echoed(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "hooks.slack.example/services/T000/B000/s3cr3tT0k3n"
    monkeypatch.setenv("SHOPLAKE_ALERTS_WEBHOOK_URL", secret)
    result = runner.invoke(app, ["tables"])
    assert result.exit_code == 1
    assert "webhook_url does not start with http" in result.output
    assert "s3cr3tT0k3n" not in result.output


def test_run_create_makes_the_missing_landing(workdir: Path) -> None:
    result = runner.invoke(app, ["run", "--landing", "new/landing", "--create"])
    assert result.exit_code == 0, result.output
    assert (workdir / "new" / "landing").is_dir()


def test_config_shows_each_setting_and_where_it_came_from(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "shoplake.toml").write_text(
        textwrap.dedent(
            """\
            [shoplake]
            lake = "from-file"
            max_files = 7

            [storage]
            aws_secret_access_key = "do-not-print-me"
            """
        )
    )
    monkeypatch.setenv("SHOPLAKE_ENGINE", "polars")
    result = runner.invoke(app, ["config", "--landing", "here"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = {
        cells[0]: cells[1:]
        for line in result.output.splitlines()
        if (cells := [c.strip() for c in line.strip("│ ").split("│")]) and len(cells) == 3
    }
    assert rows["lake"] == ["from-file", "shoplake.toml:2"]
    assert rows["max_files"] == ["7", "shoplake.toml:3"]
    assert rows["engine"] == ["polars", "SHOPLAKE_ENGINE"]
    assert rows["landing"] == ["here", "--landing"]
    assert rows["retention_days"] == ["30", "default"]
    assert rows["storage.aws_secret_access_key"] == ["***", "shoplake.toml:6"]
    assert "do-not-print-me" not in result.output


def test_stream_keeps_trying_an_unreachable_broker_only_when_asked(workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPLAKE_")}
    command = [sys.executable, "-m", "shoplake.cli", "stream", "--bootstrap", "127.0.0.1:1"]
    stream = subprocess.Popen(
        [*command, "--connect-timeout", "0.5", "--wait"],
        cwd=workdir,
        env={**env, "COLUMNS": "400"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(6)
    stream.send_signal(signal.SIGINT)
    output, _ = stream.communicate(timeout=60)
    waits = [line for line in output.splitlines() if "no broker answered" in line]
    assert len(waits) >= 2, output
    assert all(line.endswith("trying again") for line in waits), output
    assert "Traceback" not in output
