"""Help as written: rich markup in a help text shows as typed, and sentences break only
where the terminal wraps them."""

from __future__ import annotations

from typer.testing import CliRunner

from shoplake.cli import app
from shoplake.cli.helptext import as_written

runner = CliRunner()
WIDE = {"COLUMNS": "250"}  # wide enough that rich wraps nothing


def test_square_brackets_in_help_show_as_typed() -> None:
    result = runner.invoke(app, ["sql", "--help"], env=WIDE)

    assert result.exit_code == 0
    assert "Classified columns read masked (`[masking]` in shoplake.toml)" in result.output
    assert "Show classified columns unmasked (the [masking] policy)" in result.output
    assert "Lake folder or URI [default: ./lake]" in result.output


def test_a_wrapped_docstring_is_one_line_in_the_command_list() -> None:
    result = runner.invoke(app, ["--help"], env=WIDE)
    lines = result.output.splitlines()

    for sentence in (
        "Send Faker order events to a Kafka topic, or as JSON-lines files into the landing "
        "folder (<landing>/order_events/) when no --bootstrap is given.",
        "Stream order events: topic → bronze (exactly once) → silver → gold, per "
        "micro-batch. Without --bootstrap, reads <landing>/order_events/ files instead.",
    ):
        assert any(sentence in line for line in lines), result.output


def test_paragraphs_stay_and_marked_blocks_keep_their_lines() -> None:
    text = """First line
    goes on.

    Second [bold]paragraph[/bold]
    wraps.

    \b
    keep
    these"""

    assert as_written(text) == (
        "First line goes on.\n\nSecond \\[bold]paragraph\\[/bold] wraps.\n\n\b\nkeep\nthese"
    )
