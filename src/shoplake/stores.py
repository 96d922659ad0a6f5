"""Object-store settings: the options a lake or landing URI needs, and which of them are secret.

Stores are reached through the Rust ``object_store`` crate twice — by delta-rs for
the tables and by ``obstore`` for landing files, the archive and the lock — so one
vocabulary serves both: its configuration keys (``aws_endpoint_url``,
``azure_storage_account_name``...). They come, each overriding the one before, from

1. the standard environment variables and credential chains the stores read
   themselves (``AWS_*``, ``AZURE_*``, ``GOOGLE_*``, instance metadata...);
2. the ``[storage]`` section of ``shoplake.toml``;
3. ``SHOPLAKE_STORAGE_<KEY>`` environment variables (the place for secrets).

Keys carry their provider's prefix (``aws_``, ``azure_``, ``google_``), so one section
serves a lake on S3 and a landing zone on ADLS; each URI gets only its provider's keys.
Secret values are registered with :func:`secret_values` so every message is masked.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any

from shoplake import errors
from shoplake.errors import ConfigError

PROVIDERS = {
    "s3": "aws",
    "s3a": "aws",
    "az": "azure",
    "azure": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "adl": "azure",
    "gs": "google",
    "gcs": "google",
}
"""URI scheme -> the provider prefix of its configuration keys."""
ENV_PREFIX = "SHOPLAKE_STORAGE_"
# Options of the HTTP client rather than of the store: obstore takes them apart.
CLIENT_KEYS = ("allow_http", "allow_invalid_certificates", "timeout", "connect_timeout")
_SECRET_KEY = re.compile(r"secret|_key$|token|password|sas|signature|connection_string", re.I)
# The standard variables holding credentials, masked wherever they appear.
_SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_CLIENT_SECRET",
    "AZURE_STORAGE_CONNECTION_STRING",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
)


def provider(uri: str) -> str | None:
    """``aws``, ``azure`` or ``google`` for an object-store URI; None for anything else."""
    scheme, sep, _ = uri.partition("://")
    return PROVIDERS.get(scheme.lower()) if sep else None


def is_object_store(uri: str) -> bool:
    return provider(uri) is not None


@cache
def _settings(
    where: Path, _stamp: float | None, environ: tuple[tuple[str, str], ...]
) -> dict[str, str]:
    from shoplake.config import load_section

    found: dict[str, str] = {}
    for key, value in load_section("storage", where).items():
        if not isinstance(value, str | bool | int):
            raise ConfigError(f"{where}: [storage] {key} must be a string, number or boolean")
        found[key.lower()] = str(value).lower() if isinstance(value, bool) else str(value)
    for name, value in environ:
        found[name.removeprefix(ENV_PREFIX).lower()] = value
    for key in found:
        if key.split("_")[0] not in ("aws", "azure", "google"):
            raise ConfigError(
                f"storage setting {key!r}: write it with its provider's prefix "
                "(aws_, azure_ or google_), e.g. aws_endpoint_url or azure_storage_account_name"
            )
    return found


def storage_settings(config: Path | None = None) -> dict[str, str]:
    """Every ``[storage]`` key and ``SHOPLAKE_STORAGE_*`` variable, keys in lower case."""
    from shoplake.config import CONFIG_FILE

    # Read again when the file or the variables change (messages are masked often).
    where = (config or Path(CONFIG_FILE)).absolute()
    stamp = where.stat().st_mtime if where.exists() else None
    environ = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_PREFIX)))
    return dict(_settings(where, stamp, environ))


def options_for(uri: str, config: Path | None = None) -> dict[str, str] | None:
    """The storage options for ``uri`` (its provider's keys), or None when none are set:
    delta-rs and obstore then use the environment and credential chains alone."""
    prefix = provider(uri)
    if prefix is None:
        return None
    chosen = {k: v for k, v in storage_settings(config).items() if k.startswith(f"{prefix}_")}
    return chosen or None


def split_client_options(
    prefix: str, options: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """``(store config, HTTP client options)``: obstore takes them apart, delta-rs together."""
    config: dict[str, str] = {}
    client: dict[str, str] = {}
    for key, value in options.items():
        bare = key.removeprefix(f"{prefix}_")
        if bare in CLIENT_KEYS:
            client[bare] = value
        else:
            config[key] = value
    return config, client


# A URL of each provider that needs no setting, to have its keys checked alone.
_SAMPLE_URL = {
    "aws": "s3://bucket",
    "azure": "abfss://container@account.dfs.core.windows.net",
    "google": "gs://bucket",
}


def check_storage_keys(config: Path | None = None) -> None:
    """Every ``[storage]`` key and ``SHOPLAKE_STORAGE_*`` variable is one its store reads:
    the crate checks its own keys, offline, when a store is built."""
    settings = storage_settings(config)
    for prefix, url in _SAMPLE_URL.items():
        chosen = {k: v for k, v in settings.items() if k.startswith(f"{prefix}_")}
        if chosen:
            _build(url, chosen, prefix, "[storage]", keys_only=True)


def check_location(uri: str, named: str, config: Path | None = None) -> None:
    """An object-store ``uri`` names what its store needs (a bucket; a container and an
    account), checked offline so a malformed one is one line before any request;
    ``named`` is how messages name it (``--lake s3://...``)."""
    prefix = provider(uri)
    if prefix is not None:
        _build(uri, options_for(uri, config) or {}, prefix, named)


def _build(
    uri: str, options: dict[str, str], prefix: str, what: str, *, keys_only: bool = False
) -> None:
    """Build the store offline; ``keys_only``: report only a key it does not know (a
    sample URL's other complaints, a key id missing for a secret, are not the user's)."""
    from obstore.store import from_url

    config, client = split_client_options(prefix, options)
    scheme, _, rest = uri.partition("://")
    try:
        root = f"{scheme}://{rest.split('/', 1)[0]}"
        built: dict[str, Any] = {"config": config or None, "client_options": client or None}
        from_url(root, **built)
    except Exception as err:
        message = errors.first_line(err)
        unknown = re.search(r"key: '([^']+)' is not valid for store '(\w+)'", message)
        if unknown:
            raise ConfigError(
                f"{what}: unknown setting {unknown.group(1)!r} for the {unknown.group(2)} "
                "store; check its spelling against the object_store configuration keys"
            ) from None
        if "Account must be specified" in message:
            raise ConfigError(
                f"{what}: no storage account; write abfss://<container>@<account>.dfs.core."
                "windows.net/<path>, or set azure_storage_account_name in [storage] "
                "(or AZURE_STORAGE_ACCOUNT_NAME)"
            ) from None
        if not keys_only:
            raise ConfigError(f"{what}: {message}") from None


def is_secret_key(key: str) -> bool:
    """A setting whose value is a credential (``aws_secret_access_key``, ``smtp_password``)."""
    return _SECRET_KEY.search(key) is not None


def secret_values(config: Path | None = None) -> list[str]:
    """Every credential shoplake could know of, longest first: masked in every message."""
    try:
        settings = storage_settings(config)
    except ConfigError:
        settings = {}
    values = [v for k, v in settings.items() if _SECRET_KEY.search(k)]
    values += [os.environ[name] for name in _SECRET_ENV if os.environ.get(name)]
    # Short values ("true", "test") would mask ordinary words.
    return sorted({v for v in values if len(v) >= 6}, key=len, reverse=True)


def display(uri: str) -> str:
    """``uri`` fit to print: no user info, no query (a SAS token travels there)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    rest = rest.split("?", 1)[0]
    host, slash, path = rest.partition("/")
    if "@" in host and provider(uri) != "azure":  # abfss://container@account is no secret
        host = host.rpartition("@")[2]
    return f"{scheme}{sep}{host}{slash}{path}"


def mask_secrets(text: str) -> str:
    """``text`` with every known credential value replaced by ``***``."""
    for value in secret_values():
        text = text.replace(value, "***")
    return text


errors.MASKS.append(mask_secrets)


_MISSING = re.compile(
    r"NoSuchBucket|ContainerNotFound|container does not exist|bucket does not exist"
)
# The credentials themselves refused: wrong, expired, or none found.
_REFUSED = re.compile(
    r"AuthenticationFailed|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken|InvalidToken|"
    r"Invalid Access Key|401 Unauthorized|Server authentication failed|not authenticated|"
    r"NoCredentialProviders|Failed to (load|retrieve) credentials|Unable to get credentials",
    re.I,
)
# A request forbidden: credentials refused, or taken but lacking permission on the object.
_FORBIDDEN = re.compile(
    r"AccessDenied|AuthorizationFailure|AuthorizationPermissionMismatch|403 Forbidden|"
    r"lacked the necessary privileges",
    re.I,
)
# The error code of a refusal's body (S3 and Azure answer in XML; a HEAD answer has none).
_CODE = re.compile(r"<Code>\s*(\w+)\s*</Code>")
# The codes saying the credentials were taken and only this request is not allowed.
# Azure's AuthorizationFailure is not one: Azurite answers a wrong key with it, and Azure
# a firewall rule or a SAS token lacking the permission.
_PERMISSION_CODES = frozenset(
    {"AccessDenied", "AuthorizationPermissionMismatch", "AuthorizationResourceTypeMismatch"}
)
# object_store names the key it was refused (as delta-rs and obstore pass it on):
# "... for path lake/gold/t/part-0.parquet: Error performing PUT ..." or at a line's end.
_PATH = re.compile(r"for path (\S.*?)(?::\s|\s*$)", re.M)
_UNREACHABLE = re.compile(
    r"tcp connect error|Connection refused|dns error|failed to lookup address", re.I
)
_FLAKY = re.compile(
    r"\b50[0-4]\b|Service Unavailable|SlowDown|ServerBusy|after \d+ retries|timed out|"
    r"connection reset|connection closed|error sending request",
    re.I,
)
# How the stores' clients word a failed request (object_store, hence delta-rs and obstore).
_REQUEST = re.compile(r"Error performing|Generic \w+ error|HTTP error|request failed", re.I)
_CHECK = {
    "aws": "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or the aws_* keys of "
    "[storage] / SHOPLAKE_STORAGE_AWS_*)",
    "azure": "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY, a SAS token or a "
    "service principal (or the azure_* keys of [storage] / SHOPLAKE_STORAGE_AZURE_*)",
    "google": "GOOGLE_SERVICE_ACCOUNT (or the google_* keys of [storage] / "
    "SHOPLAKE_STORAGE_GOOGLE_*)",
}
# Where a permission on one prefix is granted, per provider.
_POLICY = {
    "aws": "the IAM policies of the user or role, and the bucket policy",
    "azure": "the role assignments (Storage Blob Data Contributor) and the ACLs of the path",
    "google": "the IAM roles on the bucket",
}
_ENDPOINT = {
    "aws": "AWS_ENDPOINT_URL / aws_endpoint_url and AWS_REGION",
    "azure": "the account name (and AZURITE_BLOB_STORAGE_URL for the emulator)",
    "google": "the endpoint",
}


def _bucket(uri: str) -> str:
    host = uri.partition("://")[2].split("/", 1)[0]
    return host.split("@", 1)[0]  # abfss://container@account...: the container


def _root(uri: str) -> str:
    """``scheme://bucket`` (or ``abfss://container@account...``): where keys start."""
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def permission_denied(text: str, uri: str, name: str | None = None) -> str | None:
    """``permission denied on <object URI>: check ...`` when ``text`` is a store's refusal
    of one request on a key of ``uri``'s bucket or container, the credentials themselves
    not refused (a wrong or expired key is :func:`explain_store`'s other answer); None
    otherwise. ``name``: what to name instead of the object (its table). A 403 without an
    error code (HEAD answers have no body) may also be credentials refused: the line then
    says to check those too."""
    if _REFUSED.search(text) or not _FORBIDDEN.search(text):
        return None
    found, code = _PATH.search(text), _CODE.search(text)
    if found is None or (code is not None and code.group(1) not in _PERMISSION_CODES):
        return None
    prefix = provider(uri) or "aws"
    where = name or display(f"{_root(uri)}/{found.group(1).lstrip('/')}")
    check = f"check that the credentials may read and write that prefix ({_POLICY[prefix]})"
    if code is None:
        check += f", and that they are the right ones ({_CHECK[prefix]})"
    return f"permission denied on {where}: {check}"


def explain_store(err: BaseException, locations: list[str]) -> str | None:
    """A failed request to an object store as one line naming the URI (never a secret)
    and what to check; None when ``err`` is no such failure. ``locations``: the lake and
    landing URIs of the command, the one whose bucket the error names comes first."""
    text = str(err)
    stores = [u for u in locations if is_object_store(u)]
    if not stores:
        return None
    named = [u for u in stores if _bucket(u) and _bucket(u) in text] or stores
    uri = named[0]
    prefix = provider(uri) or "aws"
    where = display(uri)
    kind = "container" if prefix == "azure" else "bucket"
    if type(err).__name__ == "CommitFailedError":
        # Often our own commit: the store did it, the answer was lost, the retried
        # conditional put found the version taken (delta-rs #2279).
        return (
            f"{where}: a commit could not be confirmed (an answer from the store was lost, "
            "or another writer committed); run again: the next run reconciles"
        )
    if _MISSING.search(text):
        return (
            f"{where}: the {kind} {_bucket(uri)!r} does not exist (or this account cannot see "
            f"it); create it, or check the URI and {_ENDPOINT[prefix]}; every table is at "
            "its last commit"
        )
    denied = permission_denied(text, uri)
    if denied is not None:
        # A run commits table by table: what was committed stays, what was not is retried.
        return (
            f"{denied}; every table is at its last commit, and a run once it is allowed "
            "picks up where this one stopped"
        )
    if _REFUSED.search(text) or _FORBIDDEN.search(text):
        return (
            f"{where}: the store refused the credentials (wrong, expired, or no permission "
            f"on this prefix); check {_CHECK[prefix]}. Nothing was written"
        )
    if _UNREACHABLE.search(text):
        return (
            f"{where}: the store could not be reached; check {_ENDPOINT[prefix]} and the "
            "network, then run again (a run picks up where it stopped)"
        )
    if _FLAKY.search(text):
        return (
            f"{where}: the store kept failing requests (unavailable, throttling or dropped "
            "connections) after retries; run again later (a run picks up where it stopped)"
        )
    if _REQUEST.search(text) or type(err).__module__.startswith("obstore"):
        from shoplake.errors import first_line

        reason = first_line(err)[:160]
        return (
            f"{where}: a request to the store failed ({reason}); run again (a run picks up "
            "where it stopped), or pass --debug for the details"
        )
    return None
