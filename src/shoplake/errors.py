"""Every error shoplake raises on purpose derives from :class:`ShoplakeError`.

Definition errors are mistakes in pipeline code, found before anything runs;
they name the table and the fix. Flow errors happen while data moves and leave
every table at its last committed version.
"""

from __future__ import annotations

from collections.abc import Callable


class ShoplakeError(Exception):
    """Root of every error shoplake raises on purpose."""


class DefinitionError(ShoplakeError):
    """A table, source or expectation is declared wrongly (found at definition time)."""


class ValidationError(ShoplakeError):
    """The pipeline graph has problems; ``problems`` lists each one, naming its table."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the pipeline has {len(problems)} problem(s):\n{lines}")


class ConfigError(ShoplakeError):
    """A setting in shoplake.toml or the environment is wrong; names the file and key."""


class StorageError(ShoplakeError):
    """A table cannot be read or written: a damaged log, a full disk, no permission.
    The message names the table and the way out."""


class FlowError(ShoplakeError):
    """A flow failed while running; nothing of that flow was committed."""

    def __init__(self, table: str, message: str) -> None:
        self.table = table
        super().__init__(f"{table}: {message}")


class ExpectationFailed(FlowError):
    """A ``fail`` expectation was violated: the flow stops and commits nothing."""

    def __init__(self, table: str, rule: str, failed: int, sample: list[dict[str, object]]) -> None:
        self.rule = rule
        self.failed = failed
        self.sample = sample
        shown = "\n".join(f"    {row}" for row in sample)
        super().__init__(
            table,
            f"expectation '{rule}' failed for {failed} row(s); nothing was committed. "
            f"Fix the input or relax the rule. Sample of offending rows:\n{shown}",
        )


MASKS: list[Callable[[str], str]] = []
"""Functions hiding secrets in an error's text; ``shoplake.stores`` adds the credentials
it knows of when it is imported (before any store can be reached)."""


def first_line(err: BaseException, default: str | None = None) -> str:
    """An error's message without what follows its first line (a backtrace a Rust library
    appends when ``RUST_BACKTRACE`` is set); ``default`` (the error's type name unless
    given) when the message is empty; a credential it quotes (a store's error can carry
    a SAS token in a URL) is masked, since such lines are written to the lake."""
    text = str(err).strip()
    for mask in MASKS:
        text = mask(text)
    if not text:
        return type(err).__name__ if default is None else default
    return text.splitlines()[0]
