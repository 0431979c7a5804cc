"""The one place that bridges cryptography versions.

Nodes run their distribution's ``python3-cryptography`` (Debian 12: 38.0, RHEL 9: 36.0,
Ubuntu 24.04: 41.0); the controller runs the pinned release. Newer releases have
timezone-aware ``*_utc`` accessors and deprecate the naive ones; older releases only have
the naive ones (which are UTC). Everything else in the core calls :func:`utc`.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

UTC = _dt.UTC


_HAS_UTC: dict[tuple[type, str], bool] = {}


def utc(obj: Any, name: str) -> _dt.datetime | None:
    """Return ``obj.<name>_utc`` when this cryptography has it, else ``obj.<name>`` made aware."""
    key = (type(obj), name)
    has_utc = _HAS_UTC.get(key)
    if has_utc is None:
        has_utc = _HAS_UTC[key] = hasattr(type(obj), name + "_utc")
    if has_utc:
        return getattr(obj, name + "_utc")  # type: ignore[no-any-return]
    naive = getattr(obj, name)
    if naive is None:
        return None
    if naive.tzinfo is None:
        return naive.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return naive  # type: ignore[no-any-return]


def utc_required(obj: Any, name: str) -> _dt.datetime:
    """Like :func:`utc` for fields that are never absent (notBefore, thisUpdate, …)."""
    value = utc(obj, name)
    if value is None:  # pragma: no cover - cryptography never returns None for these
        raise ValueError(f"{name} is missing")
    return value


def require_aware(value: _dt.datetime, what: str = "now") -> _dt.datetime:
    """Refuse naive datetimes: every time in the core is timezone-aware UTC."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)
