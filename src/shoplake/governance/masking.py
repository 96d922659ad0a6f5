"""Masking by classification: how each PII class is shown to a reader without the PII
privilege, set per class in ``[masking]`` of ``shoplake.toml``.

Methods: ``redact`` (``***``), ``hash`` (HMAC-SHA256 with a secret pepper from the
environment: the same value always masks the same way, so joins on it still work, and
without the pepper nobody can recompute it from a guessed e-mail), ``partial``
(``j***@example.com``, ``***-***-42``, ``A***``) and ``null``. The pepper is read from the
environment only and never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shoplake.config import load_section, nearest
from shoplake.errors import ConfigError

if TYPE_CHECKING:
    from shoplake.pipeline.tables import Pipeline

METHODS = ("redact", "hash", "partial", "null")
PEPPER_ENV = "SHOPLAKE_PII_PEPPER"
REDACTED = "***"
DEFAULT_CLASSES: Mapping[str, str] = {
    "email": "partial",
    "phone": "partial",
    "name": "redact",
    "address": "redact",
}
"""The policy with no ``[masking]`` section; any other class is redacted."""

Mask = Callable[[str | None], str | None]


def _partial(value: str) -> str:
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    digits = [c for c in value if c.isdigit()]
    if len(digits) >= 7:
        return "***-***-" + "".join(digits[-2:])
    return f"{value[:1]}***"


@dataclass(frozen=True)
class MaskingPolicy:
    """Which method masks each class.

    Example::

        policy = MaskingPolicy({"email": "hash"}, pepper="s3cret")
        policy.mask("email")("ada@example.com")   # 'h:5d1c…' (32 hex digits)
    """

    classes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CLASSES))
    default: str = "redact"
    pepper: str | None = field(default=None, repr=False)
    pepper_env: str = PEPPER_ENV

    def method(self, pii_class: str) -> str:
        return self.classes.get(pii_class, self.default)

    def mask(self, pii_class: str) -> Mask:
        """The function masking one value of ``pii_class`` (None stays None)."""
        method = self.method(pii_class)
        if method == "null":
            return lambda value: None
        if method == "partial":
            return lambda value: None if value is None else _partial(value)
        if method == "hash":
            if not self.pepper:
                raise ConfigError(
                    f"masking: {pii_class} = 'hash' needs a secret pepper in the environment "
                    f"variable {self.pepper_env} (never in shoplake.toml)"
                )
            key = self.pepper.encode()

            def digest(value: str | None) -> str | None:
                if value is None:
                    return None
                mac = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
                return f"h:{mac[:32]}"

            return digest
        return lambda value: None if value is None else REDACTED


def load_masking(config: Path | None = None) -> MaskingPolicy:
    """``[masking]`` of ``shoplake.toml`` (``default``, ``pepper_env`` and one key per class),
    over the built-in policy; every class also as ``SHOPLAKE_MASKING_<CLASS>``."""
    section = dict(load_section("masking", config))
    pepper_env = str(section.pop("pepper_env", PEPPER_ENV))
    default = str(section.pop("default", "redact"))
    classes = dict(DEFAULT_CLASSES)
    for key, value in section.items():
        classes[str(key)] = value if isinstance(value, str) else repr(value)
    prefix = "SHOPLAKE_MASKING_"
    for name, value in os.environ.items():
        if name.startswith(prefix) and name != prefix + "PEPPER":
            key = name.removeprefix(prefix).lower()
            if key == "default":
                default = value
            else:
                classes[key] = value
    for key, method in [*classes.items(), ("default", default)]:
        if method not in METHODS:
            raise ConfigError(f"[masking] {key} = {method!r}: use one of {', '.join(METHODS)}")
    return MaskingPolicy(classes, default, os.environ.get(pepper_env) or None, pepper_env)


def check_masking_classes(pipeline: Pipeline, policy: MaskingPolicy | None = None) -> None:
    """Every class ``[masking]`` names is a built-in one or one a column of the pipeline
    carries: a misspelt class (``emial``) would leave the real one on its default."""
    used = {
        column.pii
        for definition in pipeline.definitions.values()
        for _, column in getattr(definition, "columns_meta", ())
        if column.pii
    }
    known = sorted({*DEFAULT_CLASSES, *used})
    for name in sorted(set((policy or load_masking()).classes) - set(known)):
        raise ConfigError(
            f"[masking] {name}: no column of pipeline '{pipeline.name}' has PII class "
            f"{name!r}{nearest(name, known)}"
        )
