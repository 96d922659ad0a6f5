"""``[lineage]`` of ``shoplake.toml``: where OpenLineage events go (off by default).

```toml
[lineage]
transport = "http"                 # http | file | console (absent: no events)
url = "http://localhost:5000"      # an OpenLineage backend, e.g. Marquez
endpoint = "api/v1/lineage"
api_key_env = "OPENLINEAGE_API_KEY"  # the name of the variable holding a bearer token
file = "lineage.jsonl"             # for transport = "file": one event per line
namespace = "shoplake"             # the jobs' namespace
timeout = 5.0                      # seconds per request
retries = 2                        # per event, before it counts as undelivered
```

Each key can also be set as ``SHOPLAKE_LINEAGE_<KEY>``; a token only through the
environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoplake.config import load_section
from shoplake.errors import ConfigError

TRANSPORTS = ("http", "file", "console")
_TEXT = ("transport", "url", "endpoint", "api_key_env", "file", "namespace")
_NUMBERS = {"timeout": float, "retries": int}
LINEAGE_KEYS = (*_TEXT, *_NUMBERS)


@dataclass(frozen=True)
class LineageSettings:
    transport: str | None = None
    url: str | None = None
    endpoint: str = "api/v1/lineage"
    api_key_env: str | None = None
    file: str = "lineage.jsonl"
    namespace: str = "shoplake"
    timeout: float = 5.0
    retries: int = 2

    @property
    def enabled(self) -> bool:
        return self.transport is not None

    @property
    def target(self) -> str:
        """Where events go, for messages."""
        if self.transport == "http":
            return str(self.url)
        return self.file if self.transport == "file" else "the console"

    def client(self) -> Any:
        """An ``OpenLineageClient`` with the configured transport."""
        from openlineage.client import OpenLineageClient

        if self.transport == "console":
            from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport

            return OpenLineageClient(transport=ConsoleTransport(ConsoleConfig()))
        if self.transport == "file":
            from openlineage.client.transport.file import FileConfig, FileTransport

            config = FileConfig(log_file_path=self.file, append=True)
            return OpenLineageClient(transport=FileTransport(config))
        from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

        token = os.environ.get(self.api_key_env) if self.api_key_env else None
        http = HttpConfig(
            url=str(self.url),
            endpoint=self.endpoint,
            timeout=self.timeout,
            retry={
                "total": self.retries,
                "connect": self.retries,
                "read": self.retries,
                "backoff_factor": 0.2,
                "status_forcelist": [500, 502, 503, 504],
                "allowed_methods": ["HEAD", "POST"],
            },
        )
        if token:
            http.auth = ApiKeyTokenProvider({"apiKey": token})
        return OpenLineageClient(transport=HttpTransport(http))


def load_lineage_settings(config: Path | None = None) -> LineageSettings:
    """``[lineage]`` over the defaults, ``SHOPLAKE_LINEAGE_*`` over the file."""
    values: dict[str, Any] = {}
    section = load_section("lineage", config)
    for key, value in section.items():
        if key not in LINEAGE_KEYS:
            known = ", ".join(LINEAGE_KEYS)
            raise ConfigError(f"[lineage] has no key {key!r}; the keys are: {known}")
        values[key] = value
    for key in LINEAGE_KEYS:
        env = os.environ.get(f"SHOPLAKE_LINEAGE_{key.upper()}")
        if env:
            values[key] = env
    for key, kind in _NUMBERS.items():
        if key in values:
            try:
                values[key] = kind(values[key])
            except (TypeError, ValueError):
                raise ConfigError(f"[lineage] {key} must be a number") from None
            if values[key] < 0:
                raise ConfigError(f"[lineage] {key} must be 0 or more, got {values[key]}")
    transport = values.get("transport")
    if transport in ("", "none", "off"):
        values["transport"] = None
    elif transport is not None and transport not in TRANSPORTS:
        raise ConfigError(
            f"[lineage] transport = {transport!r}: use one of {', '.join(TRANSPORTS)}"
        )
    if values.get("transport") == "http" and not values.get("url"):
        raise ConfigError("[lineage] transport = 'http' needs url (an OpenLineage backend)")
    return LineageSettings(**values)
