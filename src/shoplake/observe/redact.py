"""Keeping secrets and personal data out of what people see: alerts, the dashboard, reports.

Secrets (credentials in URIs, connection-string keys, password/token fields) are
always hidden. PII (emails, phone numbers) is masked unless a setting turns that off.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import polars as pl

from shoplake.stores import mask_secrets

if TYPE_CHECKING:
    from shoplake.governance.masking import MaskingPolicy

_URI_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
_KEY_VALUE = re.compile(
    r"(?i)\b(?P<key>password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|accountkey|"
    r"sharedaccesskey|sharedaccesssignature|sig|client[_-]?secret)"
    r"(?P<sep>\"?\s*[=:]\s*\"?)(?P<value>[^\s\"',;&}]+)"
)
# Not right after "://": abfss://container@account.dfs.core.windows.net is no e-mail.
_EMAIL = re.compile(r"(?<![/A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Phone-like: 7+ digits with the usual separators, optionally with a leading + and extension.
_PHONE = re.compile(r"(?<![\w.:])\+?\(?\d[\d\s().-]{6,}\d(?:\s*(?:x|ext\.?)\s*\d+)?(?![\w.:])")
SECRET = "***"


def hide_secrets(text: str) -> str:
    text = mask_secrets(text)  # the credentials configured for object stores, verbatim
    text = _URI_CREDENTIALS.sub(lambda m: f"{m['scheme']}{SECRET}@", text)
    return _KEY_VALUE.sub(lambda m: f"{m['key']}{m['sep']}{SECRET}", text)


def _mask_email(match: re.Match[str]) -> str:
    local, _, domain = match.group(0).partition("@")
    return f"{local[:1]}***@{domain}"


def _mask_phone(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = [c for c in raw if c.isdigit()]
    if len(digits) < 7 or re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw.strip()):
        return raw  # too short for a phone, or a date
    return "***-***-" + "".join(digits[-2:])


def mask_pii(text: str) -> str:
    text = _EMAIL.sub(_mask_email, text)
    return _PHONE.sub(_mask_phone, text)


def clean_text(text: str, *, pii: bool = True) -> str:
    """Secrets always hidden; emails and phones masked when ``pii``."""
    text = hide_secrets(text)
    return mask_pii(text) if pii else text


_PII_COLUMNS = re.compile(r"(?i)(e-?mail|phone|mobile|tel)")
_SECRET_COLUMNS = re.compile(r"(?i)(password|secret|token|api_?key|credential)")


def clean_frame(frame: pl.DataFrame, *, pii: bool = True) -> pl.DataFrame:
    """The frame with secret columns blanked and every text value cleaned for display."""
    changes: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if _SECRET_COLUMNS.search(name):
            changes.append(pl.lit(SECRET).alias(name))
        elif dtype == pl.String:
            changes.append(
                pl.col(name).map_elements(
                    lambda v: clean_text(v, pii=pii), return_dtype=pl.String, skip_nulls=True
                )
            )
    return frame.with_columns(changes) if changes else frame


def is_pii_column(name: str) -> bool:
    return bool(_PII_COLUMNS.search(name))


def mask_classified(
    frame: pl.DataFrame, pii: Mapping[str, str], policy: MaskingPolicy
) -> pl.DataFrame:
    """The frame with each classified column (``{column: PII class}``) masked as the policy
    says for its class."""
    changes = [
        pl.col(column)
        .cast(pl.String)
        .map_elements(policy.mask(pii_class), return_dtype=pl.String, skip_nulls=True)
        .alias(column)
        for column, pii_class in pii.items()
        if column in frame.columns
    ]
    return frame.with_columns(changes) if changes else frame
