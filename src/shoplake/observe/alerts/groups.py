"""Incidents grouped for people: one entry per rule and check — how many are open, which
are new since the channel last heard, a few examples and where to look — never one line
per row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shoplake.observe.alerts.rules import Alert
from shoplake.observe.alerts.settings import severity_rank


@dataclass(frozen=True)
class AlertGroup:
    """One rule's incidents in one message."""

    rule: str
    severity: str  # the highest of its incidents
    open: int
    new: tuple[Alert, ...]
    examples: tuple[Alert, ...]

    @property
    def title(self) -> str:
        if self.open == 1 and len(self.examples) == 1:
            return self.examples[0].title
        return f"{self.rule}: {self.open:,} open, {len(self.new):,} new since the last notification"

    def text(self) -> str:
        if self.open == 1 and len(self.examples) == 1:
            return self.examples[0].text()
        first = self.examples[0] if self.examples else None
        lines = [f"[{self.severity.upper()}] {self.title}"]
        shown = "new" if self.new else "open"
        lines += [f"- {a.title}" for a in self.examples]
        more = (len(self.new) if self.new else self.open) - len(self.examples)
        if more > 0:
            lines.append(f"- … and {more:,} more {shown}")
        if first is not None:
            lines.append(f"where: {first.where}")
            lines.append(f"look at: {first.look_at}")
        return "\n".join(lines)


def group(open_alerts: Sequence[Alert], new: Sequence[Alert], examples: int) -> list[AlertGroup]:
    """One group per rule of ``open_alerts``, in order of severity (highest first); the
    examples are new incidents when there are any, else open ones."""
    fresh = {a.key for a in new}
    groups: list[AlertGroup] = []
    for rule in dict.fromkeys(a.rule for a in open_alerts):
        members = [a for a in open_alerts if a.rule == rule]
        added = tuple(a for a in members if a.key in fresh)
        pool = sorted(added or members, key=lambda a: (-severity_rank(a.severity), a.key))
        top = max(members, key=lambda a: severity_rank(a.severity)).severity
        groups.append(AlertGroup(rule, top, len(members), added, tuple(pool[: max(1, examples)])))
    return sorted(groups, key=lambda g: -severity_rank(g.severity))
