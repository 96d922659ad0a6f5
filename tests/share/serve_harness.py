"""What the sharing tests get: the server's URL, its lake, the tokens it knows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Served:
    url: str
    lake: Path
    tokens: dict[str, str]  # name -> token
    log: Path

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}
